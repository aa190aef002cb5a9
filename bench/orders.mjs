// The order path: (a) the pre-trade risk evaluation per order beside a single check, in process;
// (b) orders per second through the whole order manager (schema, risk, SQLite journal with
// synchronous=FULL, the durable simulated venue) beside a bare Fastify route validating the same
// body; (c) tick-to-order with the example strategy across data-capture -> order-manager, beside
// the same feed hop delivering to a bare consumer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { freePort, machine, median, quantile, ROOT, startScript, startService, tempHome } from './lib.mjs';

const dist = (p) => import(path.join(ROOT, 'dist', p));

async function riskCost(rounds) {
  const { evaluateRisk, checkKillSwitch, DEFAULT_RISK_LIMITS } = await dist('domain/risk.js');
  const { DEFAULT_INSTRUMENTS } = await dist('kernel/config.js');
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
  maxNotional: 10_000_000_000, // the ceiling
  priceBandPct: 50,
};

/** Risk limits wide open, so the benchmark measures the path, not the refusals. */
async function openLimits({ base, headers }) {
  const limits = await (await fetch(`${base}/api/risk/limits`, { headers })).json();
  const body = {
    ...limits.data,
    future: { ...limits.data.future, ...OPEN_LIMITS },
    equity: { ...limits.data.equity, ...OPEN_LIMITS },
    maxOrdersPerWindow: 100_000, // the ceiling
    maxOpenOrders: 100_000,
    duplicateWindowMs: 0,
    enforceTradingHours: false,
  };
  const put = await fetch(`${base}/api/risk/limits`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!put.ok) throw new Error(`cannot open the limits: ${await put.text()}`);
}

/** An order manager of its own (fresh journal, empty book), limits opened. */
async function orderManager() {
  const om = await startService('order-manager', {
    TRADINGSYSTEM_HOME: tempHome('bench-orders-'),
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: String(await freePort()),
    // No data-capture here: last prices are absent, MARKET notional uses reference prices.
    TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
  });
  await openLimits(om);
  return om;
}

async function throughput(durationS) {
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
  const run = (url, method, headers, connections = 10) =>
    autocannon({
      url,
      connections,
      duration: durationS,
      method,
      headers: { ...headers, 'content-type': 'application/json' },
      requests: [{ method, setupRequest: (req) => ({ ...req, body: order() }) }],
    });
  // Each count of clients on an order manager of its own: the orders rest, and the book of one run
  // must not count against the next (maxOpenOrders is at most 100,000; a fast host passes it).
  // CPU the service spent per order (all its threads), read from /proc around each run.
  const measured = async (connections) => {
    const om = await orderManager();
    try {
      const before = processCpuMs(om.child.pid);
      const r = await run(`${om.base}/api/orders`, 'POST', om.headers, connections);
      const cpuUs = ((processCpuMs(om.child.pid) - before) * 1000) / r.requests.total;
      if (r.non2xx) throw new Error(`${r.non2xx} orders were refused`);
      return { ...row(r), cpuUs: Math.round(cpuUs) };
    } finally {
      await om.stop();
    }
  };
  const ours = await measured(10);
  // More clients at once: bigger group commits, the throughput ceiling of one process.
  const ours50 = await measured(50);
  const ours100 = await measured(100);
  const base = await startScript(path.join(ROOT, 'bench', 'baseline-fastify.mjs'), await freePort());
  const bare = row(await run(`${base.base}/orders`, 'POST', {}));
  await base.stop();
  return { ours, ours50, ours100, bare };
}

const row = (r) => ({ rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99 });

/** User + system CPU of a process so far, all threads (Linux). */
function processCpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
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
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__COOLDOWN_MS: '50',
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__CONSECUTIVE_TRADES: '2',
    TRADINGSYSTEM__SERVICES__ORDER_MANAGER__MOMENTUM__MAX_POSITION_LOTS: '100000',
  };
  const dc = await startService('data-capture', env);
  const om = await startService('order-manager', env);
  await openLimits(om);
  // Baseline: the same trades reaching a bare consumer of the same feed, on the same clock (ms).
  const { FeedClient } = await dist('kernel/feed/index.js');
  const hop = [];
  const bare = new FeedClient({
    url: `ws://127.0.0.1:${dcPort}/feed/market`,
    headers: dc.headers,
    onRecords: (records) => {
      const now = Date.now();
      for (const { data } of records)
        if (data.kind === 'trade' && !data.backfilled) hop.push(now - data.recvTs);
    },
  });
  bare.start();
  await new Promise((r) => setTimeout(r, durationS * 1000));
  await bare.stop();
  const metrics = await (await fetch(`${om.base}/metrics`)).text();
  await om.stop();
  await dc.stop();
  hop.sort((a, b) => a - b);
  const at = (q) => quantile(hop, q) ?? Number.NaN;
  return {
    hop: { count: hop.length, p50: at(0.5), p99: at(0.99) },
    tick: histogramQuantiles(metrics, 'tradingsystem_order_manager_tick_to_order_seconds'),
    inProcess: histogramQuantiles(metrics, 'tradingsystem_order_manager_signal_to_order_seconds'),
  };
}

export async function run({ rounds = 3, durationS = 5 } = {}) {
  const risk = await riskCost(rounds);
  // Whole runs repeated (fresh processes and homes each time); each figure is the median run's.
  const tps = [];
  const t2os = [];
  for (let r = 0; r < rounds; r++) {
    tps.push(await throughput(durationS));
    t2os.push(await tickToOrder(Math.max(durationS, 10)));
  }
  const pick = (runs, key, by) =>
    [...runs].sort((a, b) => by(a[key]) - by(b[key]))[Math.floor(runs.length / 2)][key];
  const tp = {
    ours: pick(tps, 'ours', (x) => x.rps),
    ours50: pick(tps, 'ours50', (x) => x.rps),
    ours100: pick(tps, 'ours100', (x) => x.rps),
    bare: pick(tps, 'bare', (x) => x.rps),
  };
  const t2o = {
    hop: pick(t2os, 'hop', (x) => x.p99),
    tick: pick(t2os, 'tick', (x) => x.p99),
    inProcess: pick(t2os, 'inProcess', (x) => x.p99),
  };
  return {
    machine: machine(),
    rounds,
    durationS,
    results: {
      'risk: evaluateRisk, all 17 checks (µs per order)': { rps: Math.round(risk.full * 1000) / 1000 },
      'baseline: one check, kill switch (µs)': { rps: Math.round(risk.one * 1000) / 1000 },
      'POST /api/orders through risk, journal and venue (orders/s)': tp.ours,
      'POST /api/orders, 50 connections (orders/s)': tp.ours50,
      'POST /api/orders, 100 connections (orders/s)': tp.ours100,
      'baseline: bare Fastify POST, same body (req/s)': tp.bare,
      [`tick -> order at the broker adapter, momentum (${t2o.tick.count} orders, bucket bounds)`]: {
        rps: t2o.tick.count,
        p50: t2o.tick.p50,
        p99: t2o.tick.p99,
      },
      [`baseline: capture -> a bare consumer of the same feed (${t2o.hop.count} trades, ms)`]: {
        rps: t2o.hop.count,
        p50: t2o.hop.p50,
        p99: t2o.hop.p99,
      },
      'of which inside the order manager (feed delivery -> sendOrder)': {
        rps: t2o.inProcess.count,
        p50: t2o.inProcess.p50,
        p99: t2o.inProcess.p99,
      },
    },
  };
}
