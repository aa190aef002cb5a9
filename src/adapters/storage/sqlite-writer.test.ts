import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteWriter } from './sqlite-writer.js';

const INSERT = 0;
const open: SqliteWriter[] = [];
afterEach(async () => {
  for (const w of open.splice(0)) await w.close();
});

/** A file with one table whose `n` must be positive, and a writer on it. */
function writerOnNewFile() {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ts-writer-')), 'w.sqlite');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (n INTEGER NOT NULL CHECK (n > 0))');
  db.close();
  const writer = new SqliteWriter({
    file,
    statements: ['INSERT INTO t (n) VALUES (?)'],
  });
  open.push(writer);
  const rows = () => {
    const reader = new Database(file, { readonly: true });
    const ns = reader.prepare('SELECT n FROM t ORDER BY rowid').pluck().all();
    reader.close();
    return ns;
  };
  return { writer, rows, file };
}

describe('SqliteWriter', () => {
  it('commits in the order asked; what queues behind a commit on its way goes as one transaction', async () => {
    const { writer, rows } = writerOnNewFile();
    const done: number[] = [];
    const commits = [1, 2, 3].map((n) => writer.commit([[INSERT, [n]]]).then(() => done.push(n)));
    await Promise.all(commits);
    expect(done).toEqual([1, 2, 3]);
    expect(rows()).toEqual([1, 2, 3]);
    // 4 is on its way; 5 and the bad -6 queue behind it, so they share one transaction and fail together.
    const fourth = writer.commit([[INSERT, [4]]]);
    const fifth = writer.commit([[INSERT, [5]]]);
    const bad = writer.commit([[INSERT, [-6]]]);
    await fourth;
    await expect(fifth).rejects.toThrow(/CHECK constraint failed/);
    await expect(bad).rejects.toThrow(/CHECK constraint failed/);
    expect(rows()).toEqual([1, 2, 3, 4]);
  });

  it('rolls a failed transaction back whole, fails what queued behind it, and goes on after', async () => {
    const { writer, rows } = writerOnNewFile();
    const first = writer.commit([
      [INSERT, [1]],
      [INSERT, [-1]], // violates the CHECK: the whole transaction goes
    ]);
    const behind = writer.commit([[INSERT, [2]]]);
    await expect(first).rejects.toThrow(/CHECK constraint failed/);
    await expect(behind).rejects.toThrow(/CHECK constraint failed/);
    await writer.commit([[INSERT, [3]]]);
    expect(rows()).toEqual([3]);
  });

  it('fails every commit once its thread is gone, and says so once', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ts-writer-')), 'missing.sqlite');
    const writer = new SqliteWriter({ file, statements: ['SELECT 1'] });
    open.push(writer);
    const deaths: string[] = [];
    writer.onDied = (err) => deaths.push(err.message);
    await expect(writer.commit([[0, []]])).rejects.toThrow(/the writer of .*missing.sqlite failed: /);
    await expect(writer.commit([[0, []]])).rejects.toThrow(/the writer of .*missing.sqlite failed: /);
    expect(writer.failure).not.toBeNull();
    expect(deaths).toHaveLength(1);
  });

  it('writes what was asked before close, and refuses commits after', async () => {
    const { writer, rows } = writerOnNewFile();
    const pending = writer.commit([[INSERT, [5]]]);
    await writer.close();
    await pending;
    expect(rows()).toEqual([5]);
    await expect(writer.commit([[INSERT, [6]]])).rejects.toThrow(/closed/);
  });
});
