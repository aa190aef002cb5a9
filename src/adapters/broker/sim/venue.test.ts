import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { BrokerOrderRequest, BrokerOrderUpdate } from '../../../domain/execution.js';
import { connectFully, manualSim, simOrder, T0, turns } from './test-support.js';

const venueFile = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'ts-venue-')), 'sim', 'venue.sqlite');
const order = simOrder;

/** A connected sim (on a venue file or in memory) with helpers to send and to run the market. */
async function sim(file: string | undefined, startAt = T0, options: { latencyMs?: number } = {}) {
  const s = manualSim(file === undefined ? options : { ...options, venueFile: file }, startAt);
  await connectFully(s.adapter, s.recorder);
  const send = async (request: BrokerOrderRequest) => {
    const { brokerOrderId } = await s.adapter.sendOrder(request);
    await turns();
    return brokerOrderId;
  };
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 1_000) s.advance(Math.min(1_000, ms - t));
  };
  const updatesOf = (id: string) => s.recorder.updates.filter((u) => u.brokerOrderId === id);
  return { ...s, send, run, updatesOf };
}

/** A LIMIT buy that rests at T0 and that the next minute of tape trades through, in several prints. */
function restingBuy(adapter: Awaited<ReturnType<typeof sim>>['adapter']): BrokerOrderRequest {
  const ahead = adapter.tape.tradesBetween('WINZ26', T0, T0 + 60_000);
  const price = Math.min(...ahead.map((t) => t.price));
  expect(price).toBeLessThan(adapter.tape.quoteAt('WINZ26', T0).askPrice);
  return order({ price, quantity: 200 });
}

const key = (u: BrokerOrderUpdate) => `${u.status}/${u.fill?.tradeId ?? ''}/${u.ts}`;
const unique = (updates: BrokerOrderUpdate[]) => [...new Map(updates.map((u) => [key(u), u])).values()];

describe('durable simulated venue', () => {
  it('resumes after a crash exactly as if it had never stopped', async () => {
    const reference = await sim(undefined);
    const request = restingBuy(reference.adapter);
    const refId = await reference.send(request);
    reference.run(60_000);
    const fillTimes = reference.updatesOf(refId).flatMap((u) => (u.fill ? [u.ts] : []));
    const crashAfter = Math.ceil(((fillTimes[0] ?? T0) - T0 + 1) / 1_000) * 1_000;
    expect(crashAfter).toBeLessThan((fillTimes.at(-1) ?? T0) - T0);

    const file = venueFile();
    const first = await sim(file);
    const id = await first.send(request);
    expect(id).toBe(refId);
    first.run(crashAfter);
    await turns(); // updates leave after their group commit
    const before = first.updatesOf(id);
    expect(before.some((u) => u.fill)).toBe(true);
    // kill -9: the object is dropped, nothing is flushed or closed.

    const second = manualSim({ venueFile: file }, T0 + 60_000);
    expect(second.recorder.updates).toEqual([]); // caught up already, reported once routing connects
    expect(await second.adapter.openOrders('SIM-001')).toMatchObject([{ brokerOrderId: id }]);
    await connectFully(second.adapter, second.recorder);
    const after = second.recorder.updates;
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((u) => u.brokerOrderId === id && u.ts <= T0 + 60_000)).toBe(true);
    expect(after.some((u) => u.ts > T0 + crashAfter)).toBe(true);

    // At least once: the last batch delivered before the crash comes again, identical (same trade ids).
    const again = after.filter((u) => before.some((b) => key(b) === key(u)));
    expect(again.some((u) => u.fill)).toBe(true);
    expect(again).toEqual(before.slice(-again.length));
    expect(unique([...before, ...after])).toEqual(reference.updatesOf(refId));
    const [report] = await second.adapter.orderReports('SIM-001', 0);
    const refReport = (await reference.adapter.orderReports('SIM-001', 0))[0];
    expect(report).toEqual(refReport);
    expect(await second.adapter.positions('SIM-001')).toEqual(await reference.adapter.positions('SIM-001'));
  });

  it('keeps working orders, ids, closed orders and fills across restarts; positions are the sum of fills', async () => {
    const file = venueFile();
    const first = await sim(file);
    const quote = first.adapter.tape.quoteAt('WINZ26', T0);
    const bought = await first.send(order({ type: 'MARKET', quantity: 3 }));
    const resting = await first.send(order({ price: 64_000, timeInForce: 'GTC' }));
    const canceled = await first.send(order({ price: 64_000, quantity: 2 }));
    await first.adapter.cancelOrder(canceled);
    const crossing = await first.send(restingBuy(first.adapter));
    const marketFill = first.updatesOf(bought).find((u) => u.fill)?.fill;
    expect(marketFill).toMatchObject({ tradeId: `SIM-${bought}-1`, price: quote.askPrice, qty: 3 });

    const second = await sim(file, T0 + 60_000);
    const open = await second.adapter.openOrders('SIM-001');
    expect(open.map((o) => o.brokerOrderId)).toEqual([resting, crossing]);
    const reports = await second.adapter.orderReports('SIM-001', 0);
    expect(reports.map((r) => [r.brokerOrderId, r.status])).toEqual([
      [bought, 'FILLED'],
      [resting, 'ACCEPTED'],
      [canceled, 'CANCELED'],
      [crossing, 'PARTIALLY_FILLED'],
    ]);
    expect(reports[0]?.fills).toEqual([{ ...marketFill, ts: T0 }]);
    expect(reports[0]).toMatchObject({ filledQty: 3, leavesQty: 0, avgPrice: quote.askPrice });
    // The crossing order filled while we were down, at tape times, and was reported on reconnect.
    const caughtUp = second.updatesOf(crossing).filter((u) => u.fill);
    expect(caughtUp.length).toBeGreaterThan(1);
    expect(caughtUp.map((u) => u.fill?.tradeId)).toEqual(reports[3]?.fills.map((f) => f.tradeId));
    expect(caughtUp.every((u) => u.ts > T0 && u.ts <= T0 + 60_000)).toBe(true);

    const net = reports.flatMap((r) => r.fills.map((f) => (r.request.side === 'BUY' ? f.qty : -f.qty)));
    const [position] = await second.adapter.positions('SIM-001');
    expect(position?.quantity).toBe(net.reduce((a, b) => a + b, 0));

    // Since a later instant: only what changed then (the order filled during the downtime).
    const recent = await second.adapter.orderReports('SIM-001', T0 + 1);
    expect(recent.map((r) => r.brokerOrderId)).toEqual([crossing]);

    // Restarting at the same instant gives the same id prefix; the numbering still keeps ids unique.
    const third = await sim(file, T0);
    const fresh = await third.send(order({ price: 64_000 }));
    expect([bought, resting, canceled, crossing]).not.toContain(fresh);
    await third.adapter.cancelOrder(resting);
    await turns();
    expect(third.updatesOf(resting).at(-1)).toMatchObject({ status: 'CANCELED' });
  });

  it('decides an order received just before the crash as of its arrival', async () => {
    const file = venueFile();
    // With a latency the broker decides on a later turn (without one, it decides on arrival).
    const first = await sim(file, T0, { latencyMs: 20 });
    const { brokerOrderId } = await first.adapter.sendOrder(order({ type: 'MARKET', quantity: 2 }));
    first.adapter.close(); // dies before the broker's turn
    await turns();
    expect(first.recorder.updates).toEqual([]);

    const second = await sim(file, T0 + 5_000);
    expect(second.updatesOf(brokerOrderId).map((u) => [u.status, u.ts])).toEqual([
      ['ACCEPTED', T0],
      ['FILLED', T0],
    ]);
  });

  it('acknowledges a new order with the commit that stores it, ahead of its id; later with a latency', async () => {
    for (const latencyMs of [0, 20]) {
      const file = venueFile();
      const s = await sim(file, T0, { latencyMs });
      const reader = new Database(file, { readonly: true });
      const seen: string[] = [];
      s.adapter.listenExecution({
        onEvent: () => {},
        onOrderUpdate: (u) => {
          const row = reader
            .prepare('SELECT data FROM orders WHERE broker_order_id = ?')
            .get(u.brokerOrderId);
          seen.push(`${u.status} stored as ${JSON.parse((row as { data: string }).data).status}`);
        },
      });
      await s.adapter.sendOrder(order({ price: 100_000 })).then(() => seen.push('id'));
      await new Promise((r) => setTimeout(r, latencyMs + 20));
      await turns();
      reader.close();
      expect(seen).toEqual(
        latencyMs === 0 ? ['ACCEPTED stored as WORKING', 'id'] : ['id', 'ACCEPTED stored as WORKING'],
      );
    }
  });

  it('stores every change before delivering its update', async () => {
    const file = venueFile();
    const s = await sim(file);
    const reader = new Database(file, { readonly: true });
    const stored: boolean[] = [];
    const orderRow = reader.prepare('SELECT 1 FROM orders WHERE broker_order_id = ?');
    const fillRow = reader.prepare('SELECT 1 FROM fills WHERE trade_id = ?');
    s.adapter.listenExecution({
      onEvent: () => {},
      onOrderUpdate: (u) => {
        stored.push(!!orderRow.get(u.brokerOrderId) && (!u.fill || !!fillRow.get(u.fill.tradeId)));
      },
    });
    await s.send(restingBuy(s.adapter));
    s.run(60_000);
    await turns();
    reader.close();
    expect(stored.length).toBeGreaterThan(2);
    expect(stored.every(Boolean)).toBe(true);
  });

  it('lists open and closed orders with their fills in memory too', async () => {
    const s = await sim(undefined);
    const id = await s.send(order({ type: 'MARKET', quantity: 2 }));
    const rejected = await s.send(order({ account: 'OTHER-9', price: 64_000 }));
    const reports = await s.adapter.orderReports('SIM-001', 0);
    expect(reports.map((r) => [r.brokerOrderId, r.status])).toEqual([[id, 'FILLED']]);
    expect(reports[0]?.fills).toHaveLength(1);
    expect(await s.adapter.orderReports('OTHER-9', 0)).toMatchObject([
      { brokerOrderId: rejected, status: 'REJECTED', reason: 'unknown account OTHER-9', leavesQty: 0 },
    ]);
  });
});
