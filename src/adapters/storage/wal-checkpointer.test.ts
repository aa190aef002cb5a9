import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { WalCheckpointer } from './wal-checkpointer.js';

const tempFile = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'ts-ckpt-')), 'db.sqlite');
const until = async (what: string, ok: () => boolean) => {
  for (const started = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() - started > 5_000) throw new Error(`timed out waiting for ${what}`);
  }
};

describe('WalCheckpointer', () => {
  it('copies the WAL back into the database from its own thread while the writer never does', async () => {
    const file = tempFile();
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (v TEXT)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 5_000; i++) insert.run('x'.repeat(500));
    })();
    // Written to the WAL only: the database file itself is still a few pages.
    expect(statSync(file).size).toBeLessThan(100_000);
    const checkpointer = new WalCheckpointer(file, 20);
    await until('the WAL copied into the file', () => statSync(file).size > 2_000_000);
    await checkpointer.close();
    expect(db.prepare('SELECT COUNT(*) FROM t').pluck().get()).toBe(5_000);
    db.close();
  });

  it('says when it cannot work, so the owner checkpoints itself again', async () => {
    const checkpointer = new WalCheckpointer(path.join(path.dirname(tempFile()), 'missing.sqlite'));
    const died = await new Promise<Error>((resolve) => {
      checkpointer.onDied = resolve;
    });
    expect(died.message).toMatch(/the checkpointer of .*missing.sqlite failed/);
  });
});
