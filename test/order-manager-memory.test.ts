import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../src/adapters/broker/factory.js';
import { SimBrokerAdapter, simOptionsFromConfig } from '../src/adapters/broker/sim/index.js';
import { loadConfig } from '../src/config.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { createOrderManagerService } from '../src/services/order-manager/service.js';
import { freePort, type JsonBody, tempHome, waitFor } from './helpers/cli.js';
import { call, place, until, win } from './helpers/orders.js';

// Finding 8 of the reliability audit: every order ever placed stayed in memory, in our projection
// and in the simulated venue. Closed orders beyond a bound now leave memory; the journal (and the
// venue's file) answer for them, so nothing a user or the reconciliation sees changes.

let running: ServiceContext[] = [];
afterEach(async () => {
  for (const ctx of running.splice(0)) await ctx.app.close();
});

const KEEP = 3;
const VENUE_KEEP = 2;

async function start(home: string) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__CLOSED_ORDERS_IN_MEMORY: String(KEEP),
    },
    cwd: home,
  });
  let sim: SimBrokerAdapter | undefined;
  const service = createOrderManagerService({
    broker: (cfg, clock, { venueFile }): Broker => {
      sim = new SimBrokerAdapter({
        ...simOptionsFromConfig(cfg),
        clock,
        venueFile,
        closedOrdersInMemory: VENUE_KEEP,
      });
      return {
        marketData: sim,
        execution: sim,
        sim: null,
        library: null,
        marketOpen: (s, now) => sim?.tape.isOpen(s, now) ?? false,
      };
    },
  });
  const ctx = await buildService(service, { config });
  running.push(ctx);
  await ctx.app.ready();
  const app = ctx.app;
  await waitFor(
    'broker ready',
    async () => (await call(app, 'GET', '/health')).body.checks.broker.status === 'ok',
  );
  if (!sim) throw new Error('no broker built');
  return { app, ctx, sim };
}

describe('closed orders leave memory, and are still there for every reader', () => {
  it('lists only the newest closed orders, answers the others from the journal, reconciles clean across a restart', async () => {
    const home = tempHome('ts-om-mem-');
    let { app, ctx, sim } = await start(home);
    const resting = await place(app, win({ type: 'LIMIT', price: 90_000, timeInForce: 'GTC' }));
    const filled: JsonBody[] = [];
    for (let i = 0; i < 8; i++) {
      // BUY 1, SELL 1, BUY 2, SELL 2, ...: flat in the end, no two alike (the duplicate check).
      const side = i % 2 === 0 ? 'BUY' : 'SELL';
      const o = await place(app, win({ side, quantity: 1 + (i >> 1), clientOrderId: `mem-${i}` }));
      filled.push(await until(app, o.id, 'FILLED'));
    }
    const first = filled[0] as JsonBody;

    const check = async () => {
      // The blotter: the open order and the newest closed ones only.
      const list = (await call(app, 'GET', '/api/orders?limit=1000')).body;
      expect(list.total).toBe(1 + KEEP);
      expect(list.data.map((o: JsonBody) => o.id)).toContain(resting.id);
      expect(list.data.map((o: JsonBody) => o.id)).not.toContain(first.id);

      // By id: read back from the journal, exactly as it was.
      const byId = await call(app, 'GET', `/api/orders/${first.id}`);
      expect(byId.status).toBe(200);
      expect(byId.body.data).toEqual(first);
      expect((await call(app, 'GET', '/api/orders/0190aaaa-0000-7000-8000-000000000000')).status).toBe(404);

      // The same clientOrderId again is the same order, not a new one.
      const again = await call(app, 'POST', '/api/orders', win({ clientOrderId: 'mem-0' }));
      expect(again.status).toBe(200);
      expect(again.body.data.id).toBe(first.id);

      // A closed order cannot be cancelled, forgotten or not.
      const cancel = await call(app, 'DELETE', `/api/orders/${(filled[1] as JsonBody).id}`);
      expect(cancel.status).toBe(409);
      expect(cancel.body.error.code).toBe('ORDER_CLOSED');

      // The venue reports every order of the session, with its fills, from memory and its file.
      const reports = await sim.orderReports('SIM-001', 0);
      expect(reports.map((r) => r.clientOrderId)).toEqual([
        resting.clientOrderId,
        ...filled.map((o) => o.clientOrderId),
      ]);
      expect(reports.filter((r) => r.status === 'FILLED').every((r) => r.fills.length === 1)).toBe(true);

      // A full reconciliation adopts nothing and finds positions equal: forgotten fills still count.
      const run = (await call(app, 'POST', '/api/reconciliation')).body.data;
      expect(run.mismatches, JSON.stringify(run.mismatches)).toEqual([]);
      const positions = (await call(app, 'GET', '/api/positions')).body.data;
      expect(positions).toMatchObject([{ symbol: 'WINZ26', quantity: 0 }]);
      expect((await call(app, 'GET', '/api/orders?limit=1000')).body.total).toBe(1 + KEEP);
    };
    await check();

    // Rebuilt from the journal, forgetting as it replays: the same answers.
    await ctx.app.close();
    running = running.filter((c) => c !== ctx);
    ({ app, ctx, sim } = await start(home));
    await check();
  }, 60_000);
});
