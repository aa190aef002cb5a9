import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { simOptionsFromConfig } from '../../src/adapters/broker/sim/index.js';
import { Tape } from '../../src/adapters/broker/sim/tape.js';
import { loadConfig } from '../../src/config.js';
import { duck } from '../../test/helpers/market.js';
import type { IdeaLoad, OrderLoad } from './load.js';
import type { ScenarioContext } from './scenario.js';
import { type ChaosSystem, TICKERS } from './system.js';
import { localDate, pollUntil, secs, sleepUntil } from './util.js';

export type PerTicker = Record<string, number>;

/**
 * The simulated market's ground truth computed from its definition (seed, rates, open, close,
 * zone): the same pure function the simulator runs, independent of our processes. Used for past
 * sessions (midnight) and when data-capture cannot answer; `/api/sim/truth` is preferred.
 */
export function tapeOf(sys: ChaosSystem): Tape {
  const config = loadConfig({ env: sys.env });
  return new Tape(simOptionsFromConfig(config));
}

/** Last trade number per instrument in the session holding `ts`. */
export function tapeTruthAt(sys: ChaosSystem, ts: number): PerTicker {
  const tape = tapeOf(sys);
  return Object.fromEntries(TICKERS.map((t) => [t, tape.tradeCount(t, ts)]));
}

/**
 * After the close: the simulator's last trade numbers, and a check that data-capture caught up with
 * them (cursor = truth, no open gap) within `timeoutMs`. Returns the truth.
 */
export async function expectCaughtUp(
  ctx: ScenarioContext,
  sys: ChaosSystem,
  timeoutMs: number,
): Promise<PerTicker> {
  await sleepUntil(sys.closeAt + 1_000);
  const fromTape = tapeTruthAt(sys, sys.closeAt + 1_000);
  let truth: PerTicker = fromTape;
  let source = 'tape';
  try {
    const api = await sys.truth();
    truth = Object.fromEntries(TICKERS.map((t) => [t, api.instruments[t]?.lastTradeId ?? 0]));
    source = '/api/sim/truth';
  } catch {
    // data-capture not answering: the tape is the same function
  }
  const agree = TICKERS.every((t) => truth[t] === fromTape[t]);
  ctx.check(
    'ground truth: /api/sim/truth equals the tape computed from the config',
    source === '/api/sim/truth' && agree,
    source === '/api/sim/truth'
      ? agree
        ? 'equal'
        : 'they differ'
      : 'data-capture did not answer /api/sim/truth',
    { api: source === '/api/sim/truth' ? truth : null, tape: fromTape },
  );
  const t0 = Date.now();
  let last: { cursors: PerTicker; open: number | null } = { cursors: {}, open: null };
  const done = await pollUntil(
    async () => {
      const [st, gaps] = await Promise.all([
        sys.call('data-capture', 'GET', '/api/status', undefined, {}, 2_000),
        sys.call('data-capture', 'GET', '/api/gaps', undefined, {}, 2_000),
      ]);
      if (st.status !== 200) return false;
      last = {
        cursors: Object.fromEntries(TICKERS.map((t) => [t, st.body?.cursors?.[t]?.lastTradeId ?? 0])),
        open: gaps.status === 200 ? Number(gaps.body?.open ?? -1) : null,
      };
      return last.open === 0 && TICKERS.every((t) => last.cursors[t] === truth[t]);
    },
    timeoutMs,
    250,
  );
  const behind = TICKERS.filter((t) => last.cursors[t] !== truth[t]).map(
    (t) => `${t} ${last.cursors[t] ?? '?'} of ${truth[t]}`,
  );
  ctx.check(
    'capture caught up with the market after the close (cursor = last trade number, no open gap)',
    done !== null,
    done !== null
      ? `caught up ${secs(Date.now() - t0)} after checking`
      : `after ${secs(timeoutMs)}: ${behind.join(', ') || 'cursors equal'}; open gaps ${last.open ?? 'unknown'}`,
    { truth, cursors: last.cursors, openGaps: last.open, source },
  );
  return truth;
}

export interface Session {
  label: string;
  /** Trades with ts in [from, to) belong to it. */
  from: number;
  to: number;
  expected: PerTicker;
}

/**
 * Reads Parquet with a fresh DuckDB (as any outside reader would), after the system has stopped:
 * per instrument (and session) exactly trade numbers 1..N, once each; no journal seq twice.
 */
export async function expectParquetExact(
  ctx: ScenarioContext,
  sys: ChaosSystem,
  sessions: Session[],
  opts: { partitionZone?: string } = {},
): Promise<void> {
  const dir = path.join(sys.home, 'parquet', 'trades');
  if (!existsSync(dir)) {
    ctx.check('Parquet holds trade numbers 1..N once per instrument', false, 'no Parquet trades folder');
    return;
  }
  const glob = `read_parquet('${path.join(dir, '*', '*', '*.parquet')}', hive_partitioning = true, union_by_name = true)`;
  const bucket = sessions
    .map((s, i) => `WHEN epoch_ms(ts) >= ${s.from} AND epoch_ms(ts) < ${s.to} THEN ${i}`)
    .join(' ');
  let rows: Record<string, unknown>[];
  try {
    rows = await duck(
      `SELECT ticker, CASE ${bucket} ELSE -1 END AS s, count(*) AS n, count(DISTINCT trade_id) AS d,
              min(trade_id) AS lo, max(trade_id) AS hi
       FROM ${glob} GROUP BY ALL ORDER BY ALL`,
    );
  } catch (err) {
    ctx.check(
      'Parquet holds trade numbers 1..N once per instrument',
      false,
      `DuckDB cannot read it: ${(err as Error).message.split('\n')[0]}`,
    );
    return;
  }
  const problems: string[] = [];
  const measured: Record<string, unknown> = {};
  for (const [i, s] of sessions.entries()) {
    for (const t of TICKERS) {
      const n = s.expected[t] ?? 0;
      const r = rows.find((x) => x.ticker === t && Number(x.s) === i);
      const got = r
        ? { rows: Number(r.n), distinct: Number(r.d), min: Number(r.lo), max: Number(r.hi) }
        : { rows: 0, distinct: 0, min: 0, max: 0 };
      measured[`${s.label} ${t}`] = { ...got, expected: n };
      if (n === 0) problems.push(`${s.label} ${t}: the market printed nothing (nothing to check)`);
      else if (got.rows !== n || got.distinct !== n || got.min !== 1 || got.max !== n)
        problems.push(
          `${s.label} ${t}: ${got.rows} rows, ${got.distinct} distinct, ${got.min}..${got.max}; expected 1..${n} (${n - got.distinct} missing)`,
        );
    }
  }
  const stray = rows.filter((x) => Number(x.s) === -1);
  if (stray.length)
    problems.push(`${stray.reduce((a, x) => a + Number(x.n), 0)} trades outside every session`);
  ctx.check(
    `Parquet holds trade numbers 1..N once per instrument${sessions.length > 1 ? ' and session' : ''} (= the simulator's)`,
    problems.length === 0,
    problems.length
      ? problems.join('; ')
      : sessions
          .map((s) => `${s.label}: ${TICKERS.map((t) => `${t} 1..${s.expected[t]}`).join(', ')}`)
          .join('; '),
    measured,
  );

  try {
    const quotes = path.join(sys.home, 'parquet', 'quotes');
    const sources = [`SELECT seq FROM ${glob}`];
    if (existsSync(quotes))
      sources.push(
        `SELECT seq FROM read_parquet('${path.join(quotes, '*', '*', '*.parquet')}', hive_partitioning = true, union_by_name = true)`,
      );
    const [r] = await duck(
      `SELECT count(*) AS n, count(DISTINCT seq) AS d FROM (${sources.join(' UNION ALL ')})`,
    );
    const n = Number(r?.n);
    const d = Number(r?.d);
    ctx.check(
      'no journal seq stored twice in Parquet (trades and quotes)',
      n === d,
      `${n} records, ${d} distinct seqs`,
      { records: n, distinct: d },
    );
  } catch (err) {
    ctx.check(
      'no journal seq stored twice in Parquet (trades and quotes)',
      false,
      `DuckDB: ${(err as Error).message.split('\n')[0]}`,
    );
  }

  if (opts.partitionZone) {
    const zone = opts.partitionZone;
    const parts = await duck(
      `SELECT CAST("date" AS VARCHAR) AS date, min(epoch_ms(ts)) AS lo, max(epoch_ms(ts)) AS hi, count(*) AS n FROM ${glob} GROUP BY ALL ORDER BY ALL`,
    );
    const wrong = parts.filter(
      (p) => localDate(zone, Number(p.lo)) !== p.date || localDate(zone, Number(p.hi)) !== p.date,
    );
    ctx.check(
      `Parquet partition dates are the configured zone's (${zone})`,
      wrong.length === 0 && parts.length > 0,
      wrong.length
        ? wrong
            .map(
              (p) =>
                `date=${p.date} holds trades of ${localDate(zone, Number(p.lo))}..${localDate(zone, Number(p.hi))} in ${zone}`,
            )
            .join('; ')
        : `${parts.map((p) => `date=${p.date}`).join(', ')}`,
      parts.map((p) => ({
        date: p.date,
        trades: Number(p.n),
        firstLocal: localDate(zone, Number(p.lo)),
        lastLocal: localDate(zone, Number(p.hi)),
      })),
    );
  }
}

// biome-ignore lint/suspicious/noExplicitAny: orders as the API answers them
type Json = any;

export async function allOrders(sys: ChaosSystem): Promise<Json[] | null> {
  const out: Json[] = [];
  for (let offset = 0; offset < 1_000_000; offset += 1_000) {
    const page = await sys.call('order-manager', 'GET', `/api/orders?limit=1000&offset=${offset}`);
    if (page.status !== 200) return null;
    out.push(...page.body.data);
    if (offset + page.body.data.length >= page.body.total) return out;
  }
  return out;
}

interface VenueOrderRow {
  status: string;
  filledQty: number;
  request: { clientOrderId: string; symbol: string; side: string };
}

/** The simulated venue's own book, read from its file, not through the order manager. */
export function venueBook(sys: ChaosSystem, account = 'SIM-001') {
  const db = new Database(path.join(sys.home, 'sim', 'venue.sqlite'), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    const orders = (db.prepare('SELECT data FROM orders').all() as { data: string }[]).map(
      (r) => JSON.parse(r.data) as VenueOrderRow,
    );
    const positions = db.prepare('SELECT symbol, quantity FROM positions WHERE account = ?').all(account) as {
      symbol: string;
      quantity: number;
    }[];
    const fills = db.prepare('SELECT count(*) AS n, count(DISTINCT trade_id) AS d FROM fills').get() as {
      n: number;
      d: number;
    };
    return { orders: new Map(orders.map((o) => [o.request.clientOrderId, o])), positions, fills };
  } finally {
    db.close();
  }
}

const sample = (xs: string[], n = 5) =>
  xs.length > n ? `${xs.slice(0, n).join(', ')} … (${xs.length})` : xs.join(', ');

/**
 * Every acknowledged order present once, no fill applied twice, positions = the sum of fills =
 * the venue's, and our book and the venue's agree order by order.
 */
export async function expectOrdersIntact(
  ctx: ScenarioContext,
  sys: ChaosSystem,
  loads: OrderLoad[],
): Promise<void> {
  if (!(await sys.orderManagerReady(30_000))) {
    ctx.check(
      'order manager ready for the order checks',
      false,
      'routing not connected and reconciled within 30 s',
    );
    return;
  }
  const settled = await pollUntil(
    async () => (await allOrders(sys))?.every((o) => o.status !== 'PENDING_NEW'),
    15_000,
    500,
  );
  const orders = await allOrders(sys);
  if (!orders) {
    ctx.check('order manager lists its orders', false, 'GET /api/orders failed');
    return;
  }
  const byClient = new Map<string, Json>();
  const dupes: string[] = [];
  for (const o of orders) {
    if (byClient.has(o.clientOrderId)) dupes.push(o.clientOrderId);
    byClient.set(o.clientOrderId, o);
  }
  const acked = loads.flatMap((l) =>
    [...l.outcomes].filter(([, o]) => o.kind === 'created' || o.kind === 'known'),
  );
  const missing = acked.filter(([c, o]) => byClient.get(c)?.id !== (o as { id: string }).id).map(([c]) => c);
  ctx.check(
    'every acknowledged order (201) is in the order journal with its id',
    missing.length === 0 && acked.length > 0,
    missing.length
      ? `missing: ${sample(missing)}`
      : `${acked.length} acknowledged, all present (${orders.length} orders in all)`,
    { acknowledged: acked.length, missing: missing.length, orders: orders.length, settled: settled !== null },
  );
  ctx.check(
    'no order twice (clientOrderId)',
    dupes.length === 0,
    dupes.length ? `twice: ${sample(dupes)}` : `${byClient.size} distinct`,
    {
      duplicates: dupes.length,
    },
  );

  const tradeIds = orders.flatMap((o) => (o.fills ?? []).map((f: Json) => f.tradeId));
  const twice = tradeIds.length - new Set(tradeIds).size;
  ctx.check('no fill applied twice', twice === 0, `${tradeIds.length} fills, ${twice} applied twice`, {
    fills: tradeIds.length,
    twice,
  });

  const sums = new Map<string, number>();
  for (const o of orders)
    sums.set(o.symbol, (sums.get(o.symbol) ?? 0) + (o.side === 'BUY' ? 1 : -1) * (o.filledQty ?? 0));
  const positions = ((await sys.call('order-manager', 'GET', '/api/positions')).body?.data ?? []) as Json[];
  const posOf = (s: string) => positions.find((p) => p.symbol === s)?.quantity ?? 0;
  const symbols = [...new Set([...sums.keys(), ...positions.map((p) => p.symbol as string)])];
  const offSums = symbols.filter((s) => posOf(s) !== (sums.get(s) ?? 0));
  ctx.check(
    'positions = sum of fills',
    offSums.length === 0,
    offSums.length
      ? offSums.map((s) => `${s}: position ${posOf(s)}, fills ${sums.get(s) ?? 0}`).join('; ')
      : symbols.map((s) => `${s} ${posOf(s)}`).join(', '),
    Object.fromEntries(symbols.map((s) => [s, { position: posOf(s), sumOfFills: sums.get(s) ?? 0 }])),
  );

  let venue: ReturnType<typeof venueBook>;
  try {
    venue = venueBook(sys);
  } catch (err) {
    ctx.check('positions = the venue’s', false, `cannot read the venue: ${(err as Error).message}`);
    return;
  }
  const venuePos = (s: string) => venue.positions.find((p) => p.symbol === s)?.quantity ?? 0;
  const allSymbols = [...new Set([...symbols, ...venue.positions.map((p) => p.symbol)])];
  const offVenue = allSymbols.filter((s) => posOf(s) !== venuePos(s));
  ctx.check(
    'positions = the venue’s (sim/venue.sqlite)',
    offVenue.length === 0,
    offVenue.length
      ? offVenue.map((s) => `${s}: ours ${posOf(s)}, venue ${venuePos(s)}`).join('; ')
      : `equal on ${allSymbols.length} symbols`,
    Object.fromEntries(allSymbols.map((s) => [s, { ours: posOf(s), venue: venuePos(s) }])),
  );
  // UNKNOWN: journaled, never confirmed by the venue; by design never resent, settled by an operator.
  const unknown = orders.filter((o) => o.status === 'UNKNOWN' && !venue.orders.has(o.clientOrderId));
  const notAtVenue = orders
    .filter((o) => o.status !== 'REJECTED' && o.status !== 'UNKNOWN' && !venue.orders.has(o.clientOrderId))
    .map((o) => `${o.clientOrderId} ${o.status}`);
  const notOurs = [...venue.orders.keys()].filter((c) => !byClient.has(c));
  const filledDiffer = orders
    .filter(
      (o) =>
        venue.orders.has(o.clientOrderId) && venue.orders.get(o.clientOrderId)?.filledQty !== o.filledQty,
    )
    .map(
      (o) => `${o.clientOrderId} ours ${o.filledQty} venue ${venue.orders.get(o.clientOrderId)?.filledQty}`,
    );
  ctx.check(
    'our book = the venue’s, order by order (presence and filled quantity)',
    notAtVenue.length + notOurs.length + filledDiffer.length === 0,
    [
      notAtVenue.length && `not at the venue: ${sample(notAtVenue)}`,
      notOurs.length && `venue orders we lack: ${sample(notOurs)}`,
      filledDiffer.length && `filled differs: ${sample(filledDiffer)}`,
    ]
      .filter(Boolean)
      .join('; ') ||
      `${venue.orders.size} venue orders, ${venue.fills.n} venue fills, all agree${unknown.length ? ` (${unknown.length} UNKNOWN, never at the venue, await an operator)` : ''}`,
    {
      venueOrders: venue.orders.size,
      venueFills: venue.fills.n,
      unknownNotAtVenue: unknown.length,
      notAtVenue: notAtVenue.length,
      notOurs: notOurs.length,
      filledDiffer: filledDiffer.length,
    },
  );
}

/** Every idea answered 201 is still there with its id, and no title twice. */
export async function expectIdeasIntact(
  ctx: ScenarioContext,
  sys: ChaosSystem,
  load: IdeaLoad,
): Promise<void> {
  const items: Json[] = [];
  for (let offset = 0; offset < 100_000; offset += 1_000) {
    const r = await sys.call('idea-bank', 'GET', `/api/items?limit=1000&offset=${offset}`);
    const page = (r.body?.data ?? []) as Json[];
    items.push(...page);
    if (r.status !== 200 || page.length < 1_000) break;
  }
  const byTitle = new Map<string, Json[]>();
  for (const i of items) byTitle.set(i.title, [...(byTitle.get(i.title) ?? []), i]);
  const missing = [...load.created]
    .filter(([title, id]) => !byTitle.get(title)?.some((i) => i.id === id))
    .map(([t]) => t);
  const twice = [...byTitle].filter(([t, xs]) => t.startsWith('chaos') && xs.length > 1).map(([t]) => t);
  ctx.check(
    'every idea answered 201 is kept; none twice',
    missing.length === 0 && twice.length === 0 && load.created.size > 0,
    `${load.created.size} created, ${missing.length} missing${missing.length ? ` (${sample(missing)})` : ''}, ${twice.length} twice${twice.length ? ` (${sample(twice)})` : ''}`,
    {
      created: load.created.size,
      missing: missing.length,
      twice: twice.length,
      unanswered: load.unanswered.length,
    },
  );
}

/** How long a system that has caught up may take to say so. */
const HEALTHY_WITHIN_MS = 10_000;

/** `tradingsystem health --json` and `status --json`, as an operator would run them: everything ok. */
export async function expectAllHealthyCli(
  ctx: ScenarioContext,
  sys: ChaosSystem,
  label: string,
): Promise<void> {
  // Asked again for up to HEALTHY_WITHIN_MS while something is still settling (data-capture
  // checking the session's last trades against history after catching up), as an operator would.
  const deadline = Date.now() + HEALTHY_WITHIN_MS;
  let health: Awaited<ReturnType<ChaosSystem['cli']>>;
  let status: Awaited<ReturnType<ChaosSystem['cli']>>;
  for (;;) {
    [health, status] = await Promise.all([
      sys.cli(['health', '--json'], 20_000),
      sys.cli(['status', '--json'], 20_000),
    ]);
    if ((health.code === 0 && status.code === 0) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  let bad: string[] = [];
  try {
    bad = (JSON.parse(health.stdout) as { service: string; status: string; failing: string[] }[])
      .filter((r) => r.status !== 'ok')
      .map((r) => `${r.service} ${r.status} ${r.failing.join('; ')}`);
  } catch {
    bad = [`health --json printed no JSON (exit ${health.code}): ${health.stderr.trim()}`];
  }
  let states: string[] = [];
  try {
    states = (JSON.parse(status.stdout) as { processes: { name: string; state: string }[] }).processes
      .filter((p) => p.state !== 'healthy')
      .map((p) => `${p.name} ${p.state}`);
  } catch {
    states = [`status --json printed no JSON (exit ${status.code})`];
  }
  ctx.check(
    `tradingsystem health and status: everything ok (${label})`,
    health.code === 0 && status.code === 0 && bad.length === 0 && states.length === 0,
    health.code === 0 && status.code === 0 && !bad.length && !states.length
      ? 'health exit 0, every process healthy'
      : `health exit ${health.code}${bad.length ? `: ${bad.join(' | ')}` : ''}; status exit ${status.code}${states.length ? `: ${states.join(', ')}` : ''}`,
  );
}
