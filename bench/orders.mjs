// The order path: (a) the pre-trade risk evaluation per order beside a single check, in process;
// (b) orders per second through the whole order manager (schema, risk, SQLite journal with
// synchronous=FULL, the durable simulated venue) beside a bare Fastify route validating the same
// body; (c) tick-to-order with the example strategy across data-capture -> order-manager, beside
// the same feed hop delivering to a bare consumer.
import path from 'node:path';
import autocannon from 'autocannon';
import { freePort, machine, median, ROOT, startScript, startService, tempHome } from './lib.mjs';

const dist = (p) => import(path.join(ROOT, 'dist', p));

async function riskCost(rounds) {
  const { evaluateRisk, checkKillSwitch, DEFAULT_RISK_LIMITS } = await dist('domain/risk.js');
  const { DEFAULT_INSTRUMENTS } = await dist('domain/instruments.js');
  const instrument = DEFAULT_INSTRUMENTS[0];
  const now = Date.parse('2026-03-16T15:00:00Z'); // 12:00 in São Paulo, a Monday
  const ctx = {
    order: { symbol: 'WINZ26', side: 'BUY', type: 'LIMIT', quantity: 1, price: 128_000, account: 'SIM-001' },
    instrument,
    limits: DEFAULT_RISK_LIMITS,
    tradingState: 'ACTIVE',
    killSwitch: { active: false },
    brokerReady: true,
    now,
    timeZone: 'America/Sao_Paulo',
    lastPrice: 128_000,
    position: 1,
    openOrders: { count: 3, sameSideQty: 1 },
    recentOrders: [now - 500, now - 300],
    recentFingerprints: [],
    dailyPnl: { realised: -100, unrealised: 50 },
  };
  const N = 200_000;
  const time = (fn) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn(ctx);
    return Number(process.hrtime.bigint() - t) / N / 1000; // µs per call
  };
  if (evaluateRisk(ctx) !== null)
    throw new Error(`bench order is rejected: ${JSON.stringify(evaluateRisk(ctx))}`);
  time(evaluateRisk);
  const full = [];
  const one = [];
  for (let r = 0; r < rounds; r++) {
    full.push(time(evaluateRisk));
    one.push(time(checkKillSwitch));
  }
  return { full: median(full), one: median(one) };
}

const OPEN_LIMITS = {
  maxOrderQty: 1_000,
  maxPosition: 1_000_000,
  maxNotional: 1e12,
  priceBandPct: 50,
};

/** Risk limits wide open, so the benchmark measures the path, not the refusals. */
async function openLimits(base) {
  const limits = await (await fetch(`${base}/api/risk/limits`)).json();
  const body = {
    ...limits.data,
    future: { ...limits.data.future, ...OPEN_LIMITS },
    equity: { ...limits.data.equity, ...OPEN_LIMITS },
    maxOrdersPerWindow: 1_000_000,
    maxOpenOrders: 1_000_000,
    duplicateWindowMs: 0,
    enforceTradingHours: false,
  };
  const put = await fetch(`${base}/api/risk/limits`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!put.ok) throw new Error(`cannot open the limits: ${await put.text()}`);
}

async function throughput(durationS) {
  const port = await freePort();
  const om = await startService('order-manager', {
    TRADINGSYSTEM_HOME: tempHome('bench-orders-'),
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(port),
    // No data-capture here: last prices are absent, MARKET notional uses reference prices.
    TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
  });
  await openLimits(om.base);
  const base = await startScript(path.join(ROOT, 'bench', 'baseline-fastify.mjs'), await freePort());
  // Resting buy limits far below the market: each is a new order, journaled and sent to the venue.
  let n = 0;
  const order = () =>
    JSON.stringify({
      symbol: 'WINZ26',
      side: 'BUY',
      type: 'LIMIT',
      quantity: 1,
      price: 100_000 + 5 * (n++ % 1000),
      clientOrderId: `b-${n}`,
    });
  const run = (url, method) =>
    autocannon({
      url,
      connections: 10,
      duration: durationS,
      method,
      headers: { 'content-type': 'application/json' },
      requests: [{ method, setupRequest: (req) => ({ ...req, body: order() }) }],
    });
  const ours = await run(`${om.base}/api/orders`, 'POST');
  const bare = await run(`${base.base}/orders`, 'POST');
  await Promise.all([om.stop(), base.stop()]);
  if (ours.non2xx) throw new Error(`${ours.non2xx} orders were refused`);
  return {
    ours: { rps: Math.round(ours.requests.average), p50: ours.latency.p50, p99: ours.latency.p99 },
    bare: { rps: Math.round(bare.requests.average), p50: bare.latency.p50, p99: bare.latency.p99 },
  };
}

/** p50/p99 in ms from a Prometheus histogram's cumulative buckets (upper bound of the bucket). */
function histogramQuantiles(text, name) {
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm'))].map(
    (m) => [m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2])],
  );
  const total = buckets.at(-1)?.[1] ?? 0;
  const q = (p) => (buckets.find(([, c]) => c >= p * total)?.[0] ?? Number.NaN) * 1000;
  return { count: total, p50: q(0.5), p99: q(0.99) };
}

async function tickToOrder(durationS) {
  const home = tempHome('bench-t2o-');
  const dcPort = await freePort();
  const omPort = await freePort();
  const env = {
    TRADINGSYSTEM_HOME: home,
    TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(dcPort),
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(omPort),
    TRADINGSYSTEM__SIM__TRADES_PER_SECOND: '500',
    TRADINGSYSTEM__SIM__OPEN_AT: new Date(Date.now() - 1_000).toISOString(),
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__STRATEGIES: '["momentum"]',
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__COOLDOWN_MS: '200',
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__CONSECUTIVE_TRADES: '2',
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__MAX_POSITION_LOTS: '100000',
  };
  const dc = await startService('data-capture', env);
  const om = await startService('order-manager', env);
  await openLimits(om.base);
  await new Promise((r) => setTimeout(r, durationS * 1000));
  const metrics = await (await fetch(`${om.base}/metrics`)).text();
  await om.stop();
  await dc.stop();
  return {
    tick: histogramQuantiles(metrics, 'tradingsystem_order_manager_tick_to_order_seconds'),
    inProcess: histogramQuantiles(metrics, 'tradingsystem_order_manager_signal_to_order_seconds'),
  };
}

export async function run({ rounds = 3, durationS = 5 } = {}) {
  const risk = await riskCost(rounds);
  const tp = await throughput(durationS);
  const t2o = await tickToOrder(Math.max(durationS, 10));
  return {
    machine: machine(),
    rounds,
    durationS,
    results: {
      'risk: evaluateRisk, all 17 checks (µs per order)': { rps: Math.round(risk.full * 1000) / 1000 },
      'baseline: one check, kill switch (µs)': { rps: Math.round(risk.one * 1000) / 1000 },
      'POST /api/orders through risk, journal and venue (orders/s)': tp.ours,
      'baseline: bare Fastify POST, same body (req/s)': tp.bare,
      [`tick -> order at the broker adapter, momentum (${t2o.tick.count} orders, bucket bounds)`]: {
        rps: t2o.tick.count,
        p50: t2o.tick.p50,
        p99: t2o.tick.p99,
      },
      'of which inside the order manager (feed delivery -> sendOrder)': {
        rps: t2o.inProcess.count,
        p50: t2o.inProcess.p50,
        p99: t2o.inProcess.p99,
      },
    },
  };
}
