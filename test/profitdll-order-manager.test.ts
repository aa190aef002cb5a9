import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  configEnv,
  freePort,
  internalFetch,
  type JsonBody,
  Supervisors,
  supervisorStatus,
  tempHome,
  waitFor,
  waitForProgress,
} from './helpers/cli.js';
import { buildFakeProfitDll, fakeCommand, writeCredentials } from './helpers/profitdll.js';

/**
 * The order manager routing through ProfitDLL (the fake DLL in C, its orders kept in a file as a
 * broker keeps them), data-capture giving it prices from the fake's tape. The fake's control port
 * fills and rejects as the exchange would.
 */
const OTHERS_OFF = Object.fromEntries(
  ['stream', 'gateway', 'idea-bank', 'docs'].map((n) => [n, { enabled: false }]),
);
const STALL_MS = 45_000;

async function system() {
  const library = buildFakeProfitDll();
  const home = tempHome('ts-profitdll-om-');
  const port = await freePort();
  const control = await freePort();
  const env = {
    ...configEnv(home, {
      services: {
        ...OTHERS_OFF,
        'data-capture': { port: await freePort(), broker: 'profitdll' },
        'order-manager': { port, account: 'FAKE-001' },
      },
      profitdll: { library, credentialsFile: writeCredentials(home) },
      supervisor: {
        healthIntervalMs: 200,
        backoffInitialMs: 200,
        backoffMaxMs: 1_000,
        stopTimeoutMs: 20_000,
      },
    }),
    FAKEPROFIT_TAPE: 'WINZ26:F:20,WDOZ26:F:20,PETR4:B:20,VALE3:B:20',
    FAKEPROFIT_TAPE_START_MS: String(Date.now() - 5_000),
    FAKEPROFIT_ROUTING_CONTROL_PORT: String(control),
    FAKEPROFIT_STATE: path.join(home, 'fake-exchange.orders'),
    FAKEPROFIT_AUTOFILL: '1',
  };
  const base = `http://127.0.0.1:${port}`;
  const call = async (method: string, url: string, body?: object) => {
    const res = await internalFetch(home)(`${base}${url}`, {
      method,
      ...(body && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as JsonBody };
  };
  return { home, env, call, command: (line: string) => fakeCommand(control, line) };
}
type System = Awaited<ReturnType<typeof system>>;

const supervisors = new Supervisors();

/** The order manager's pid once it is up with routing connected and reconciled. */
async function ready(s: System, what = 'order manager ready'): Promise<number> {
  const progress = async () => {
    const st = await supervisorStatus(s.home).catch(() => null);
    const p = st?.processes.find((x) => x.name === 'order-manager');
    const broker = await s.call('GET', '/health').then(
      (r) => String(r.body.checks?.broker?.status),
      () => 'not answering',
    );
    return { pid: p?.state === 'healthy' || p?.state === 'degraded' ? (p.pid ?? 0) : 0, broker };
  };
  const done = await waitForProgress(what, progress, (p) => p.broker === 'ok' && p.pid > 0, {
    stallMs: STALL_MS,
  });
  return done.pid;
}

async function raiseLimits(s: System) {
  const limits = (await s.call('GET', '/api/risk/limits')).body.data;
  const wide = { maxOrderQty: 1_000, maxPosition: 100_000, maxNotional: 100_000_000, priceBandPct: 50 };
  const put = await s.call('PUT', '/api/risk/limits', {
    ...limits,
    future: { ...limits.future, ...wide },
    equity: { ...limits.equity, ...wide },
    dailyLossLimit: 1_000_000_000,
    maxOrdersPerWindow: 100_000,
    maxOpenOrders: 100_000,
    duplicateWindowMs: 0,
  });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
}

const orderOf = async (s: System, id: string) => (await s.call('GET', `/api/orders/${id}`)).body.data;
const until = (s: System, id: string, ok: (o: JsonBody) => boolean, what: string) =>
  waitFor(what, async () => {
    const o = await orderOf(s, id);
    return ok(o) ? o : null;
  });

/** The fake exchange's book: ClOrdID → status (TConnectorOrderStatus), filled and ordered quantity. */
async function exchangeBook(s: System) {
  const reply = await s.command('orders');
  return new Map(
    (reply ? reply.split(';') : []).map((entry) => {
      const [id, status, filled, quantity] = entry.split(',');
      return [id as string, { status: Number(status), filled: Number(filled), quantity: Number(quantity) }];
    }),
  );
}

describe('order manager on ProfitDLL (the fake DLL in C)', () => {
  it('orders sent, filled in parts, modified, cancelled, rejected and filled at market reach the order manager and its positions', async () => {
    const s = await system();
    supervisors.start(s.env);
    await ready(s);
    await raiseLimits(s);

    const buy = await s.call('POST', '/api/orders', {
      symbol: 'PETR4',
      side: 'BUY',
      type: 'LIMIT',
      price: 30,
      quantity: 300,
      clientOrderId: 'pdll-1',
    });
    expect(buy.status, JSON.stringify(buy.body)).toBe(201);
    const id = buy.body.data.id;
    const accepted = await until(s, id, (o) => o.status === 'ACCEPTED', 'accepted');
    expect(accepted.brokerOrderId).toMatch(/^FAKE-\d+$/);
    expect(await s.command(`fill ${accepted.brokerOrderId} 100 29.99`)).toBe('0');
    await until(s, id, (o) => o.status === 'PARTIALLY_FILLED' && o.filledQty === 100, 'partially filled');
    const patch = await s.call('PATCH', `/api/orders/${id}`, { quantity: 400 });
    expect(patch.status, JSON.stringify(patch.body)).toBeLessThan(300);
    await until(s, id, (o) => o.quantity === 400 && o.status === 'PARTIALLY_FILLED', 'replaced to 400');
    expect(await s.command(`fill ${accepted.brokerOrderId} 300 30`)).toBe('0');
    const filled = await until(s, id, (o) => o.status === 'FILLED', 'filled');
    expect(filled.fills.map((f: JsonBody) => [f.qty, f.price])).toEqual([
      [100, 29.99],
      [300, 30],
    ]);

    const sell = await s.call('POST', '/api/orders', {
      symbol: 'PETR4',
      side: 'SELL',
      type: 'LIMIT',
      price: 30.2,
      quantity: 100,
    });
    await until(s, sell.body.data.id, (o) => o.status === 'ACCEPTED', 'sell accepted');
    expect((await s.call('DELETE', `/api/orders/${sell.body.data.id}`)).status).toBeLessThan(300);
    await until(s, sell.body.data.id, (o) => o.status === 'CANCELED', 'cancelled');

    expect(await s.command('reject-next no margin left')).toBe('ok');
    const refused = await s.call('POST', '/api/orders', {
      symbol: 'WINZ26',
      side: 'BUY',
      type: 'MARKET',
      quantity: 1,
    });
    const rejected = await until(s, refused.body.data.id, (o) => o.status === 'REJECTED', 'rejected');
    expect(rejected.rejectReason ?? rejected.reason ?? JSON.stringify(rejected)).toContain('no margin left');

    const market = await s.call('POST', '/api/orders', {
      symbol: 'WINZ26',
      side: 'BUY',
      type: 'MARKET',
      quantity: 2,
    });
    await until(s, market.body.data.id, (o) => o.status === 'FILLED' && o.filledQty === 2, 'market filled');

    const positions = (await s.call('GET', '/api/positions')).body.data as JsonBody[];
    expect(positions.find((p) => p.symbol === 'PETR4')?.quantity).toBe(400);
    expect(positions.find((p) => p.symbol === 'WINZ26')?.quantity).toBe(2);
    const run = (await s.call('POST', '/api/reconciliation')).body.data;
    expect(run.mismatches).toEqual([]);
  }, 180_000);

  it('killed with SIGKILL mid-burst, reconciles from the DLL order list: nothing lost, nothing doubled', async () => {
    const ORDERS = 300;
    const s = await system();
    supervisors.start(s.env);
    const pid = await ready(s);
    await raiseLimits(s);
    const body = (i: number) =>
      i % 3 === 0
        ? {
            symbol: 'WINZ26',
            side: i % 2 ? 'SELL' : 'BUY',
            type: 'MARKET',
            quantity: 1,
            clientOrderId: `k-${i}`,
          }
        : { symbol: 'PETR4', side: 'BUY', type: 'LIMIT', price: 29, quantity: 100, clientOrderId: `k-${i}` };
    const outcomes = new Map<string, string>();
    let next = 0;
    let acks = 0;
    let killed = false;
    // One wait for the restart, shared by the workers.
    let backUp: Promise<number> | null = null;
    const waitBackUp = () => {
      backUp ??= ready(s, 'back after the kill').finally(() => {
        backUp = null;
      });
      return backUp;
    };
    const worker = async () => {
      for (let i = next++; i < ORDERS; i = next++) {
        let kind = 'none';
        try {
          const r = await s.call('POST', '/api/orders', body(i));
          kind =
            r.status === 201 ? 'created' : r.status === 200 ? 'known' : r.status >= 500 ? 'none' : 'refused';
        } catch {}
        outcomes.set(`k-${i}`, kind);
        if (kind === 'created' && ++acks >= 120 && !killed) {
          killed = true;
          process.kill(pid, 'SIGKILL');
        }
        if (kind === 'none') await waitBackUp();
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    expect(killed).toBe(true);
    await ready(s, 'restarted');
    expect([...outcomes.values()].filter((k) => k === 'refused')).toEqual([]);
    for (const [clientOrderId, kind] of outcomes) {
      if (kind !== 'none') continue;
      const again = await s.call('POST', '/api/orders', body(Number(clientOrderId.slice(2))));
      expect([200, 201]).toContain(again.status);
    }

    await waitForProgress(
      'orders settled (count of PENDING_NEW)',
      async () => {
        const list = (await s.call('GET', '/api/orders?limit=1000')).body.data as JsonBody[];
        return list.filter((o) => o.status === 'PENDING_NEW' || o.status === 'UNKNOWN').length;
      },
      (n) => n === 0,
      { stallMs: STALL_MS },
    );
    const run = (await s.call('POST', '/api/reconciliation')).body.data;
    const orders = (await s.call('GET', '/api/orders?limit=1000')).body.data as JsonBody[];
    expect(
      run.mismatches,
      JSON.stringify(orders.filter((o) => run.mismatches.some((m: JsonBody) => m.orderId === o.id))),
    ).toEqual([]);
    const ours = orders.filter((o) => String(o.clientOrderId).startsWith('k-'));
    const missing = [...outcomes.keys()].filter((c) => !ours.some((o) => o.clientOrderId === c));
    expect(missing.map((c) => [c, outcomes.get(c)])).toEqual([]);
    expect(new Set(ours.map((o) => o.clientOrderId)).size).toBe(ORDERS);
    expect(ours.length).toBe(ORDERS);
    expect(orders.filter((o) => String(o.clientOrderId).startsWith('profitdll-'))).toEqual([]);

    // The exchange holds exactly one order per clientOrderId, each as our journal says.
    const book = await exchangeBook(s);
    expect(book.size).toBe(ORDERS);
    const brokerIds = new Set(ours.map((o) => o.brokerOrderId));
    expect(brokerIds.size).toBe(ORDERS);
    for (const o of ours) {
      const at = book.get(o.brokerOrderId);
      expect(at, `${o.clientOrderId} at the exchange: ${JSON.stringify(o)}`).toBeDefined();
      expect(at?.filled, o.clientOrderId).toBe(o.filledQty);
    }
    const tradeIds = ours.flatMap((o) => o.fills.map((f: JsonBody) => f.tradeId));
    expect(new Set(tradeIds).size).toBe(tradeIds.length);
    const net = ours
      .filter((o) => o.symbol === 'WINZ26')
      .reduce((n, o) => n + (o.side === 'BUY' ? 1 : -1) * o.filledQty, 0);
    const positions = (await s.call('GET', '/api/positions')).body.data as JsonBody[];
    expect(positions.find((p) => p.symbol === 'WINZ26')?.quantity ?? 0).toBe(net);
    expect((await s.call('GET', '/health')).body.checks.reconciliation.status).toBe('ok');
  }, 300_000);
});
