import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCompatible, isReleaseId, MANIFEST, type ReleaseManifest, readManifest } from './release.js';

const manifest = (over: Partial<ReleaseManifest> = {}): ReleaseManifest => ({
  name: 'tradingsystem',
  version: '1.2.3-abc1234',
  packageVersion: '1.2.3',
  commit: 'abc1234',
  dirty: false,
  builtAt: '2026-01-01T00:00:00.000Z',
  platform: process.platform,
  arch: process.arch,
  nodeAbi: process.versions.modules,
  node: process.version,
  entries: ['dist', 'package.json'],
  ...over,
});

describe('release ids and manifests', () => {
  it('a release id names a folder and nothing else', () => {
    for (const ok of ['1.2.3', '0.1.0-f03c219', '0.1.0-f03c219-dirty.20261207T022448', '1.0.0+build.1'])
      expect(isReleaseId(ok), ok).toBe(true);
    for (const bad of ['', 'current', '1.2', '../1.2.3', '1.2.3/..', '1.2.3-..', '1.2.3 x', '1.2.3-a/b'])
      expect(isReleaseId(bad), bad).toBe(false);
  });

  it('reads a manifest and refuses one with paths that leave the release', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-manifest-'));
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, MANIFEST), JSON.stringify(manifest()));
      expect(readManifest(dir).version).toBe('1.2.3-abc1234');
      writeFileSync(path.join(dir, MANIFEST), JSON.stringify(manifest({ entries: ['../../etc'] })));
      expect(() => readManifest(dir)).toThrow(/'entries' must list relative paths/);
      writeFileSync(path.join(dir, MANIFEST), JSON.stringify(manifest({ version: '../x' })));
      expect(() => readManifest(dir)).toThrow(/is not a valid release version/);
      writeFileSync(path.join(dir, MANIFEST), '{');
      expect(() => readManifest(dir)).toThrow(/is not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a release built for another OS, CPU or Node ABI', () => {
    expect(() => checkCompatible(manifest())).not.toThrow();
    expect(() => checkCompatible(manifest({ platform: 'win32', nodeAbi: '1' }))).toThrow(
      /built for win32-.* with Node ABI 1/,
    );
  });
});
