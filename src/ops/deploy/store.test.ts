import { mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readPointer } from '../../kernel/platform.js';
import { MANIFEST } from './release.js';
import { currentReleaseDir, ReleaseStore } from './store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function store(): ReleaseStore {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-store-'));
  dirs.push(dir);
  return new ReleaseStore(dir);
}

/** A release folder as `deploy` leaves it, adopted in the order given. */
function install(s: ReleaseStore, version: string): void {
  const staged = s.stagingDir();
  writeFileSync(
    path.join(staged, MANIFEST),
    JSON.stringify({
      name: 'tradingsystem',
      version,
      packageVersion: '0.1.0',
      commit: null,
      dirty: false,
      builtAt: '2026-01-01T00:00:00.000Z',
      platform: process.platform,
      arch: process.arch,
      nodeAbi: process.versions.modules,
      node: process.version,
      entries: [],
    }),
  );
  s.adopt(staged, version);
}

describe('ReleaseStore', () => {
  it('switches the current pointer in one step and lists release folders only', () => {
    const s = store();
    install(s, '1.0.0');
    install(s, '1.1.0');
    expect(s.current()).toBeNull();
    s.switchTo('1.0.0');
    expect(readlinkSync(path.join(s.dir, 'current'))).toBe('1.0.0');
    s.switchTo('1.1.0');
    expect(readPointer(s.dir)).toBe('1.1.0');
    expect(currentReleaseDir(s.dir)).toBe(path.join(s.dir, '1.1.0'));
    // The pointer, the launcher, the state file and a staging folder are not releases.
    mkdirSync(path.join(s.dir, '.incoming-1-2'));
    expect(s.list().map((r) => [r.version, r.current])).toEqual([
      ['1.0.0', false],
      ['1.1.0', true],
    ]);
    s.switchTo(null);
    expect(s.current()).toBeNull();
    expect(currentReleaseDir(s.dir)).toBeNull();
  });

  it('rollback goes to the newest release before the current one that did not fail', () => {
    const s = store();
    for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0']) install(s, v);
    s.switchTo('1.3.0');
    expect(s.previousGood()?.version).toBe('1.2.0');
    s.setStatus('1.2.0', 'failed', 'order-manager crash-looped');
    expect(s.previousGood()?.version).toBe('1.1.0');
    s.switchTo('1.0.0');
    expect(s.previousGood()).toBeNull();
  });

  it('prune keeps the newest ones, the current one and where a rollback would go', () => {
    const s = store();
    for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0']) install(s, v);
    s.switchTo('1.1.0'); // rolled back to an old one: it and 1.0.0 (its previous) stay
    expect(s.prune(2)).toEqual(['1.2.0', '1.3.0', '1.4.0']);
    expect(s.list().map((r) => r.version)).toEqual(['1.0.0', '1.1.0']);
  });

  it('one deploy at a time; a lock left by a dead process is taken over', () => {
    const s = store();
    const unlock = s.lock();
    expect(() => s.lock()).toThrow(/another deploy or rollback is running \(pid \d+/);
    unlock();
    const again = s.lock();
    again();
    // A pid that cannot be alive.
    writeFileSync(path.join(s.dir, 'deploy.lock'), JSON.stringify({ pid: 2 ** 22 + 1, at: 'then' }));
    const taken = s.lock();
    taken();
  });

  it('refuses a releases folder inside the data home or around it', () => {
    const s = store();
    expect(() => s.assertApartFrom(path.join(s.dir, 'data'))).toThrow(/overlap/);
    expect(() => s.assertApartFrom(path.dirname(s.dir))).toThrow(/overlap/);
    expect(() => s.assertApartFrom(`${s.dir}-data`)).not.toThrow();
  });
});
