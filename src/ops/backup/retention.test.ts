import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupsDir, lastGoodBackup, listBackups, MANIFEST, VERIFICATION } from './manifest.js';
import { pruneBackups } from './retention.js';

const ZONE = 'America/Sao_Paulo';
/** 2026-12-07 12:00 in São Paulo. */
const NOW = Date.parse('2026-12-07T15:00:00Z');

let home: string;
afterEach(() => rmSync(home, { recursive: true, force: true }));

/** A backup folder as `backup now` leaves it: a manifest, and a verification when it was checked. */
function backup(name: string, verified: boolean | null): void {
  const dir = path.join(backupsDir(home), name);
  mkdirSync(dir, { recursive: true });
  const at = `${name.slice(0, 10)}T05:00:00.000Z`;
  writeFileSync(
    path.join(dir, MANIFEST),
    JSON.stringify({ format: 1, version: 't', host: 'h', home, startedAt: at, finishedAt: at, files: [] }),
  );
  if (verified !== null)
    writeFileSync(path.join(dir, VERIFICATION), JSON.stringify({ at, ok: verified, problems: [], ms: 1 }));
}

const left = () => readdirSync(backupsDir(home)).sort();

describe('pruneBackups', () => {
  it('deletes backups dated more than the retention before today and keeps the rest', () => {
    home = mkdtempSync(path.join(os.tmpdir(), 'ts-retention-'));
    // 30 days before 2026-12-07 is 2026-11-07: that day is kept, the day before goes.
    for (const name of ['2026-11-05', '2026-11-06', '2026-11-06-2', '2026-11-07', '2026-12-06', '2026-12-07'])
      backup(name, true);
    const removed = pruneBackups(home, 30, NOW, ZONE);
    expect(removed.sort()).toEqual(['2026-11-05', '2026-11-06', '2026-11-06-2']);
    expect(left()).toEqual(['2026-11-07', '2026-12-06', '2026-12-07']);
  });

  it('never deletes the newest verified backup, however old; bad and unverified old ones go', () => {
    home = mkdtempSync(path.join(os.tmpdir(), 'ts-retention-'));
    backup('2026-09-01', true);
    backup('2026-09-02', true); // the newest verified: kept
    backup('2026-09-03', false); // bad
    backup('2026-12-01', false); // bad but recent: within retention
    backup('2026-12-06', null); // unverified, recent
    const removed = pruneBackups(home, 30, NOW, ZONE);
    expect(removed.sort()).toEqual(['2026-09-01', '2026-09-03']);
    expect(left()).toEqual(['2026-09-02', '2026-12-01', '2026-12-06']);
    expect(lastGoodBackup(home)?.name).toBe('2026-09-02');
  });

  it('leaves folders that are not backups (a copy being written, notes) alone', () => {
    home = mkdtempSync(path.join(os.tmpdir(), 'ts-retention-'));
    backup('2026-01-01', false);
    mkdirSync(path.join(backupsDir(home), '.partial-1-2'), { recursive: true });
    writeFileSync(path.join(backupsDir(home), '.scheduled-since'), '2026-01-01T00:00:00Z\n');
    expect(pruneBackups(home, 30, NOW, ZONE)).toEqual(['2026-01-01']);
    expect(left()).toEqual(['.partial-1-2', '.scheduled-since']);
    expect(listBackups(home)).toEqual([]);
  });

  it('does nothing on a data home without backups', () => {
    home = mkdtempSync(path.join(os.tmpdir(), 'ts-retention-'));
    expect(pruneBackups(home, 30, NOW, ZONE)).toEqual([]);
    expect(existsSync(backupsDir(home))).toBe(false);
  });
});
