import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalUnavailableError, OrderJournal } from './order-journal.js';

const home = () => mkdtempSync(path.join(os.tmpdir(), 'ts-order-journal-'));

describe('order journal', () => {
  it('appends, reads after a seq and replays in order, across a reopen', () => {
    const dir = home();
    const j = OrderJournal.open(dir);
    expect(j.journalMode).toBe('wal');
    expect(j.lastSeq()).toBe(0);
    const a = j.append('order.submitted', 'o1', { qty: 1 }, 1_000);
    const b = j.append('risk.kill_switch', null, { active: true }, 1_001);
    j.append('order.event', 'o1', { type: 'accepted' }, 1_002);
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(j.read(1, 10).map((r) => r.seq)).toEqual([2, 3]);
    expect(j.read(0, 2).map((r) => r.data.type)).toEqual(['order.submitted', 'risk.kill_switch']);
    j.close();

    const again = OrderJournal.open(dir);
    expect(again.lastSeq()).toBe(3);
    expect([...again.replay()]).toEqual([
      { seq: 1, ts: 1_000, type: 'order.submitted', orderId: 'o1', data: { qty: 1 } },
      { seq: 2, ts: 1_001, type: 'risk.kill_switch', orderId: null, data: { active: true } },
      { seq: 3, ts: 1_002, type: 'order.event', orderId: 'o1', data: { type: 'accepted' } },
    ]);
    again.close();
  });

  it('keeps an audit trail, newest first, filterable by action', () => {
    const j = OrderJournal.open(home());
    const base = { actor: 'api', target: null, reason: null, result: 'ok', details: null };
    j.audit({ ...base, ts: 1, action: 'order.submit' });
    j.audit({ ...base, ts: 2, action: 'risk.kill_switch', reason: 'drill', details: { cancelAll: true } });
    j.audit({ ...base, ts: 3, action: 'order.submit', result: 'RISK_TICK_SIZE' });
    expect(j.auditTrail(10).map((e) => e.ts)).toEqual([3, 2, 1]);
    expect(j.auditTrail(10, 'risk.kill_switch')).toEqual([
      { id: 2, ...base, ts: 2, action: 'risk.kill_switch', reason: 'drill', details: { cancelAll: true } },
    ]);
    expect(j.auditTrail(1, 'order.submit')[0]?.result).toBe('RISK_TICK_SIZE');
    j.close();
  });

  it('rolls a failed transaction back whole', () => {
    const j = OrderJournal.open(home());
    expect(() =>
      j.transaction(() => {
        j.append('a', null, {}, 1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(j.read(0, 10)).toEqual([]);
    j.close();
  });

  it('reports a corrupt database and leaves the file as it was', () => {
    const dir = home();
    const file = path.join(dir, 'db', 'orders.sqlite');
    mkdirSync(path.dirname(file), { recursive: true });
    const garbage = Buffer.from('this is not an sqlite database, it is a broken file '.repeat(100));
    writeFileSync(file, garbage);
    expect(() => OrderJournal.open(dir)).toThrow(JournalUnavailableError);
    expect(() => OrderJournal.open(dir)).toThrow(/not a database/);
    expect(readFileSync(file).equals(garbage)).toBe(true);
  });
});
