import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SmallDisk } from '../../../test/helpers/disk.js';
import { DiskRefusedError, UnusableFileError } from '../../kernel/durable-file.js';
import { OrderJournal } from './order-journal.js';

const home = () => mkdtempSync(path.join(os.tmpdir(), 'ts-order-journal-'));

describe('order journal', () => {
  it('appends, reads after a seq and replays in order, across a reopen', async () => {
    const dir = home();
    const j = OrderJournal.open(dir);
    expect(j.journalMode).toBe('wal');
    expect(j.lastSeq()).toBe(0);
    const a = j.append('order.submitted', 'o1', { qty: 1 }, 1_000);
    const b = j.append('risk.kill_switch', null, { active: true }, 1_001);
    j.append('order.event', 'o1', { type: 'accepted' }, 1_002);
    expect([a.seq, b.seq]).toEqual([1, 2]);
    await j.committed();
    expect(j.read(1, 10).map((r) => r.seq)).toEqual([2, 3]);
    expect(j.read(0, 2).map((r) => r.data.type)).toEqual(['order.submitted', 'risk.kill_switch']);
    await j.close();

    const again = OrderJournal.open(dir);
    expect(again.lastSeq()).toBe(3);
    expect([...again.replay()]).toEqual([
      { seq: 1, ts: 1_000, type: 'order.submitted', orderId: 'o1', data: { qty: 1 } },
      { seq: 2, ts: 1_001, type: 'risk.kill_switch', orderId: null, data: { active: true } },
      { seq: 3, ts: 1_002, type: 'order.event', orderId: 'o1', data: { type: 'accepted' } },
    ]);
    await again.close();
  });

  it('keeps an audit trail, newest first, filterable by action', async () => {
    const j = OrderJournal.open(home());
    const base = { actor: 'api', target: null, reason: null, result: 'ok', details: null };
    j.audit({ ...base, ts: 1, action: 'order.submit' });
    j.audit({ ...base, ts: 2, action: 'risk.kill_switch', reason: 'drill', details: { cancelAll: true } });
    j.audit({ ...base, ts: 3, action: 'order.submit', result: 'RISK_TICK_SIZE' });
    await j.committed();
    expect(j.auditTrail(10).map((e) => e.ts)).toEqual([3, 2, 1]);
    expect(j.auditTrail(10, 'risk.kill_switch')).toEqual([
      { id: 2, ...base, ts: 2, action: 'risk.kill_switch', reason: 'drill', details: { cancelAll: true } },
    ]);
    expect(j.auditTrail(1, 'order.submit')[0]?.result).toBe('RISK_TICK_SIZE');
    await j.close();
  });

  it('rolls a failed transaction back whole', async () => {
    const j = OrderJournal.open(home());
    expect(() =>
      j.transaction(() => {
        j.append('a', null, {}, 1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    // Nothing of it remains: the next event is seq 1, and it alone is committed.
    expect(j.append('b', null, {}, 2).seq).toBe(1);
    await j.committed();
    expect(j.read(0, 10).map((r) => r.data.type)).toEqual(['b']);
    await j.close();
  });

  it('commits the appends of one turn together, and only then answers and shows them', async () => {
    const dir = home();
    const j = OrderJournal.open(dir);
    const commits: number[][] = [];
    j.onCommit = (events, json) => {
      commits.push(events.map((e) => e.seq));
      // The JSON handed out with each event is that event, as a reader would parse it.
      expect(json.map((t) => JSON.parse(t))).toEqual(events);
    };
    j.append('a', null, {}, 1);
    j.audit({ ts: 1, actor: 'api', action: 'x', target: null, reason: null, result: 'ok', details: null });
    j.transaction(() => j.append('b', 'o-"1"', { quote: 'say "hi"', n: [1, 2] }, 2));
    const waiter = j.committed();
    j.append('c', null, {}, 3);
    let answered = false;
    void waiter.then(() => {
      answered = true;
    });
    // Same turn: nothing is committed, so nothing is visible or answered.
    expect(j.read(0, 10)).toEqual([]);
    expect(j.lastSeq()).toBe(0);
    expect(j.auditTrail(10)).toEqual([]);
    await Promise.resolve();
    expect(answered).toBe(false);
    // Another connection sees nothing either: the rows are not on disk yet.
    const other = new Database(path.join(dir, 'db', 'orders.sqlite'), { readonly: true });
    expect(other.prepare('SELECT COUNT(*) FROM events').pluck().get()).toBe(0);

    await waiter;
    expect(answered).toBe(true);
    expect(commits).toEqual([[1, 2, 3]]);
    expect(j.read(0, 10).map((r) => r.data.type)).toEqual(['a', 'b', 'c']);
    expect(j.lastSeq()).toBe(3);
    expect(j.auditTrail(10)).toHaveLength(1);
    expect(other.prepare('SELECT COUNT(*) FROM events').pluck().get()).toBe(3);
    other.close();

    // A later turn is a new batch, a commit of its own.
    j.append('d', null, {}, 4);
    await j.committed();
    expect(commits).toEqual([[1, 2, 3], [4]]);
    await j.close();
  });

  it('holds a batch until what it waits for settles; later batches wait behind it', async () => {
    const j = OrderJournal.open(home());
    let answer!: () => void;
    const broker = new Promise<void>((resolve) => {
      answer = resolve;
    });
    j.append('order.submitted', 'o1', {}, 1);
    j.holdUntil(broker, 60_000);
    const first = j.committed();
    await new Promise((r) => setImmediate(r));
    j.append('order.event', 'o2', {}, 2); // a later turn: the next batch, queued behind the held one
    let done = false;
    void j.committed().then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect([done, j.lastSeq()]).toEqual([false, 0]);
    j.append('order.event', 'o1', { type: 'rejected' }, 3); // the broker's answer, before the release
    answer();
    await first;
    await j.committed();
    expect(j.lastSeq()).toBe(3);
    await j.close();
  });

  it('lets a hold go after its time limit or when its promise rejects; close writes a held batch', async () => {
    const j = OrderJournal.open(home());
    j.append('a', null, {}, 1);
    j.holdUntil(new Promise(() => {}), 30); // a broker that never answers
    await j.committed();
    j.append('b', null, {}, 2);
    j.holdUntil(Promise.reject(new Error('refused')), 60_000);
    await j.committed();
    expect(j.lastSeq()).toBe(2);
    j.append('c', null, {}, 3);
    j.holdUntil(new Promise(() => {}), 60_000);
    await new Promise((r) => setImmediate(r)); // sealed and held
    await j.close();
    const again = OrderJournal.open(path.dirname(path.dirname(j.file)));
    expect(again.lastSeq()).toBe(3);
    await again.close();
  });

  it('rolls a failed commit back, rejects its waiters and shows none of it', async () => {
    const dir = home();
    await OrderJournal.open(dir).close();
    // A deferred foreign key, broken by a 'lost' event, fails the COMMIT itself.
    const other = new Database(path.join(dir, 'db', 'orders.sqlite'));
    other.exec(`
      CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
      CREATE TRIGGER fail_lost AFTER INSERT ON events WHEN NEW.type = 'lost'
      BEGIN INSERT INTO child VALUES (42); END;`);
    other.close();
    const j = OrderJournal.open(dir);
    j.append('kept', null, {}, 1);
    await j.committed();
    let rolledBack: Error | undefined;
    j.onRollback = (err) => {
      rolledBack = err;
    };
    const published: number[] = [];
    j.onCommit = (events) => published.push(...events.map((e) => e.seq));
    j.append('lost', null, {}, 2);
    j.audit({ ts: 2, actor: 'api', action: 'x', target: null, reason: null, result: 'ok', details: null });
    const waiter = j.committed();
    await expect(waiter).rejects.toThrow(/FOREIGN KEY/);
    expect(rolledBack).toBeInstanceOf(Error);
    expect(published).toEqual([]);
    expect(j.read(0, 10).map((r) => r.data.type)).toEqual(['kept']);
    expect(j.lastSeq()).toBe(1);
    expect(j.auditTrail(10)).toEqual([]);

    // A batch held behind a failing one is refused with it (its seqs followed the lost ones).
    j.append('lost', null, {}, 3);
    await new Promise((r) => setImmediate(r));
    j.append('held', null, {}, 4);
    j.holdUntil(new Promise(() => {}), 60_000);
    const held = j.committed();
    await expect(held).rejects.toThrow(/FOREIGN KEY/);

    // The journal goes on: the next batch commits, with the next seq after the committed ones.
    const next = j.append('next', null, {}, 5);
    expect(next.seq).toBe(2);
    await j.committed();
    expect(j.read(0, 10).map((r) => r.data.type)).toEqual(['kept', 'next']);
    await j.close();
    expect([...OrderJournal.open(dir).replay()].map((e) => e.type)).toEqual(['kept', 'next']);
  });

  it('reports a corrupt database and leaves the file as it was', () => {
    const dir = home();
    const file = path.join(dir, 'db', 'orders.sqlite');
    mkdirSync(path.dirname(file), { recursive: true });
    const garbage = Buffer.from('this is not an sqlite database, it is a broken file '.repeat(100));
    writeFileSync(file, garbage);
    expect(() => OrderJournal.open(dir)).toThrow(UnusableFileError);
    expect(() => OrderJournal.open(dir)).toThrow(/not a database/);
    expect(readFileSync(file).equals(garbage)).toBe(true);
  });

  it('refuses a journal its marker says existed when it is missing, empty or another one, and adopts an old one', async () => {
    const dir = home();
    const file = path.join(dir, 'db', 'orders.sqlite');
    const j = OrderJournal.open(dir);
    j.append('order.submitted', 'o1', { qty: 1 }, 1_000);
    await j.committed();
    await j.close();
    const id = readFileSync(`${file}.id`, 'utf8').trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const saved = readFileSync(file);
    writeFileSync(file, ''); // a 0-byte journal (a full disk, a bad restore)
    expect(() => OrderJournal.open(dir)).toThrow(UnusableFileError);
    expect(() => OrderJournal.open(dir)).toThrow(/empty, but .*orders\.sqlite\.id says journal/);
    expect(readFileSync(file)).toHaveLength(0); // left as found
    rmSync(file);
    expect(() => OrderJournal.open(dir)).toThrow(/missing, but/);

    // Another journal put in its place.
    const other = home();
    const o = OrderJournal.open(other);
    await o.close();
    copyFileSync(path.join(other, 'db', 'orders.sqlite'), file);
    expect(() => OrderJournal.open(dir)).toThrow(/another journal was put in its place/);

    // The right one back: it opens, with its events.
    writeFileSync(file, saved);
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    const back = OrderJournal.open(dir);
    expect(back.lastSeq()).toBe(1);
    await back.close();

    // A journal from before markers is adopted: it gets an id and a marker.
    rmSync(`${file}.id`);
    const db = new Database(file);
    db.exec('DELETE FROM meta');
    db.close();
    const adopted = OrderJournal.open(dir);
    expect(adopted.lastSeq()).toBe(1);
    await adopted.close();
    expect(readFileSync(`${file}.id`, 'utf8').trim()).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('commits again once a read-only disk is writable again (the writer opens a fresh connection)', async () => {
    const dir = home();
    const j = OrderJournal.open(dir);
    j.append('order.submitted', 'o1', { qty: 1 }, 1_000);
    await j.committed();
    // Immutable: every write to the journal's files fails, through open descriptors too.
    const files = ['orders.sqlite', 'orders.sqlite-wal'].map((f) => path.join(dir, 'db', f));
    for (const f of files) execFileSync('chattr', ['+i', f]);
    try {
      j.append('order.submitted', 'o2', { qty: 1 }, 1_001);
      await expect(j.committed()).rejects.toThrow();
      expect(j.health()).toMatchObject({ status: 'down' });
    } finally {
      for (const f of files) execFileSync('chattr', ['-i', f]);
    }
    j.append('order.submitted', 'o3', { qty: 1 }, 1_002);
    await j.committed();
    expect(j.health()).toMatchObject({ status: 'ok' });
    expect([...j.replay()].map((e) => e.orderId)).toEqual(['o1', 'o3']);
    await j.close();
  });

  it('tells a disk that refuses the journal (read-only) from a damaged journal', async () => {
    const dir = home();
    const first = OrderJournal.open(dir);
    first.append('order.submitted', 'o1', { qty: 1 }, 1_000);
    await first.committed();
    await first.close();
    const db = path.join(dir, 'db');
    SmallDisk.readOnlyBind(db);
    try {
      expect(() => OrderJournal.open(dir)).toThrow(DiskRefusedError);
    } finally {
      SmallDisk.undoBind(db);
    }
    const j = OrderJournal.open(dir);
    j.append('order.submitted', 'o2', { qty: 1 }, 1_001);
    await j.committed();
    expect([...j.replay()].map((e) => e.orderId)).toEqual(['o1', 'o2']);
    await j.close();
  });
});
