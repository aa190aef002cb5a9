import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diskHealth, formatBytes, measureDisk } from './disk.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-disk-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const limits = (warnFreePercent: number, criticalFreePercent: number) => ({
  warnFreePercent,
  criticalFreePercent,
  cacheMs: 0,
});

describe('measureDisk', () => {
  it('reads the file system and places it against the levels', async () => {
    const ok = await measureDisk(dir, limits(0, 0));
    expect(ok.level).toBe('ok');
    expect(ok.totalBytes).toBeGreaterThan(0);
    expect(ok.freePercent).toBeGreaterThanOrEqual(0);
    expect(diskHealth(ok)).toMatchObject({ status: 'ok', level: 'ok' });
    expect(diskHealth(ok)).not.toHaveProperty('runbook');
    const warn = await measureDisk(dir, limits(100.1, 0));
    expect(warn.level).toBe('warn');
    expect(warn.detail).toMatch(/below the warning level of 100.1%/);
    const critical = await measureDisk(dir, limits(100.1, 100.1));
    expect(critical.level).toBe('critical');
    expect(diskHealth(critical)).toMatchObject({ status: 'degraded', runbook: 'runbooks/disk-space' });
  });

  it('a data home not created yet is measured at its nearest existing parent', async () => {
    const s = await measureDisk(path.join(dir, 'not', 'yet'), limits(0, 0));
    expect(s).toMatchObject({ level: 'ok', path: dir });
  });

  it('a path it cannot ask is unknown, with the reason, never a throw', async () => {
    const file = path.join(dir, 'f');
    writeFileSync(file, 'x');
    const s = await measureDisk(path.join(file, 'below-a-file'), limits(15, 5));
    expect(s).toMatchObject({ level: 'unknown', freeBytes: null });
    expect(s.detail).toMatch(/cannot read the free space/);
    expect(diskHealth(s).status).toBe('degraded');
  });
});

describe('formatBytes', () => {
  it('uses decimal units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1_500)).toBe('1.50 KB');
    expect(formatBytes(310_000_000)).toBe('310.0 MB');
  });
});
