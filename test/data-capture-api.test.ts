import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { CapturedEvent } from '../src/domain/market-data.js';
import { FeedClient, type FeedRecord } from '../src/kernel/feed/index.js';
import { FEED_PATHS } from '../src/kernel/feed/paths.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { dataCaptureService } from '../src/services/data-capture/service.js';
import { type JsonBody, tempHome, waitFor } from './helpers/cli.js';
import { duck, tradeNumbersInParquet } from './helpers/market.js';

let running: ServiceContext[] = [];
afterEach(async () => {
  for (const ctx of running.splice(0)) await ctx.app.close();
});

/** data-capture in this process on a free port, on a market that opened a moment ago. */
async function start(home = tempHome('ts-dc-api-'), env: Record<string, string> = {}) {
  const openAt = new Date(Date.now() - 500).toISOString();
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__SIM__TRADES_PER_SECOND: '300',
      TRADINGSYSTEM__SIM__OPEN_AT: openAt,
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__JOURNAL__SEGMENT_MAX_AGE_MS: '500',
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      ...env,
    },
    cwd: home,
  });
  const ctx = await buildService(dataCaptureService, { config });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (ctx.app.server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  await waitFor('broker active', async () => {
    const s = (await (await fetch(`${base}/api/status`)).json()) as { broker: { state: string } };
    return s.broker.state === 'Active';
  });
  return { ctx, home, base, port, openAt };
}

/** The same market again: a restart must see the tape it left (its trade numbers start at openAt). */
const sameMarket = (first: { openAt: string }) => ({ TRADINGSYSTEM__SIM__OPEN_AT: first.openAt });

const get = (url: string) =>
  fetch(url).then(async (r) => ({ status: r.status, body: (await r.json()) as JsonBody }));

describe('data-capture API', () => {
  it('answers every bad query with 400 and the field named', async () => {
    const { base } = await start();
    const cases: [string, string, string][] = [
      ['/api/trades?ticker=NOPE11', 'UNKNOWN_TICKER', 'ticker'],
      ['/api/trades?ticker=winz26', 'VALIDATION_ERROR', 'ticker'],
      ['/api/trades', 'VALIDATION_ERROR', 'ticker'],
      [
        '/api/trades?ticker=WINZ26&from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z',
        'VALIDATION_ERROR',
        'from',
      ],
      ['/api/trades?ticker=WINZ26&from=yesterday', 'VALIDATION_ERROR', 'from'],
      ['/api/trades?ticker=WINZ26&limit=100000', 'VALIDATION_ERROR', 'limit'],
      ['/api/trades?ticker=WINZ26&limit=-1', 'VALIDATION_ERROR', 'limit'],
      ['/api/trades?ticker=WINZ26&sql=1', 'VALIDATION_ERROR', 'sql'],
      ['/api/bars?ticker=WINZ26&interval=2m', 'VALIDATION_ERROR', 'interval'],
      ['/api/bars?ticker=WINZ26', 'VALIDATION_ERROR', 'interval'],
      ['/api/bars?ticker=ABCD3&interval=1m', 'UNKNOWN_TICKER', 'ticker'],
      ['/api/gaps?state=closed', 'VALIDATION_ERROR', 'state'],
    ];
    for (const [url, code, field] of cases) {
      const res = await get(`${base}${url}`);
      expect(res.status, url).toBe(400);
      expect(res.body.error, url).toMatchObject({ code, details: { field } });
    }
    const post = async (body: string) =>
      fetch(`${base}/api/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    expect((await post('{"ticker": "NOPE11"}')).status).toBe(400);
    expect((await post('{"ticker": 5}')).status).toBe(400);
    expect((await post('{"ticker": "PETR4", "extra": 1}')).status).toBe(400);
    expect((await post('{"ticker":')).status).toBe(400);
    const fault = await fetch(`${base}/api/sim/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'meteor' }),
    });
    expect(fault.status).toBe(400);
    expect((await fetch(`${base}/api/subscriptions/ABCD3`, { method: 'DELETE' })).status).toBe(404);
  });

  it('serves the newest trades and bars at once, before they reach Parquet', async () => {
    const { base } = await start(undefined, {
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__JOURNAL__SEGMENT_MAX_AGE_MS: '60000',
    });
    const newest = await waitFor('trades visible', async () => {
      const r = await get(`${base}/api/trades?ticker=WINZ26&order=desc&limit=5`);
      return (r.body.count as number) > 0
        ? (r.body.data as { tradeId: number; ts: string; price: number }[])
        : null;
    });
    expect(newest[0]?.tradeId).toBeGreaterThan(newest[1]?.tradeId ?? 0);
    expect(Date.now() - Date.parse(newest[0]?.ts ?? '')).toBeLessThan(5_000);
    const bars = await get(`${base}/api/bars?ticker=WINZ26&interval=1m`);
    expect(bars.status).toBe(200);
    const bar = (
      bars.body.data as { open: number; high: number; low: number; close: number; trades: number }[]
    ).at(-1);
    expect(bar?.trades).toBeGreaterThan(0);
    expect(bar?.high).toBeGreaterThanOrEqual(Math.max(bar?.open ?? 0, bar?.close ?? 0));
    expect(bar?.low).toBeLessThanOrEqual(Math.min(bar?.open ?? 0, bar?.close ?? 0));
  });

  it('serves a resumable feed: from=0 replays the journal in order, then live, without gaps', async () => {
    const { port } = await start();
    const got: FeedRecord<CapturedEvent>[] = [];
    const client = new FeedClient<CapturedEvent>({
      url: `ws://127.0.0.1:${port}${FEED_PATHS.market}`,
      from: 0,
      onRecords: (records) => got.push(...records),
    });
    client.start();
    await waitFor('records flowing', () => got.length > 2_000);
    client.stop();
    expect(got.map((r) => r.seq)).toEqual(got.map((_, i) => i + 1));
    expect(got.every((r) => r.data.seq === r.seq)).toBe(true);
    // Resume from the middle: exactly what follows, nothing twice.
    const again: FeedRecord<CapturedEvent>[] = [];
    const from = got[999]?.seq ?? 0;
    const resumed = new FeedClient<CapturedEvent>({
      url: `ws://127.0.0.1:${port}${FEED_PATHS.market}`,
      from,
      onRecords: (records) => again.push(...records),
    });
    resumed.start();
    await waitFor('resumed', () => again.length > 1_500);
    resumed.stop();
    expect(again[0]?.seq).toBe(from + 1);
    expect(again.slice(0, 1_000).map((r) => r.data)).toEqual(got.slice(1_000, 2_000).map((r) => r.data));
  });

  it('keeps the journal when Parquet cannot be written, shows it on /health and metrics, and retries', async () => {
    const home = tempHome('ts-dc-api-');
    // Parquet's trades folder is a file: every conversion fails, even for root.
    mkdirSync(path.join(home, 'parquet'), { recursive: true });
    writeFileSync(path.join(home, 'parquet', 'trades'), 'in the way');
    const { ctx, base } = await start(home);
    const health = await waitFor('conversion failure visible', async () => {
      const r = await get(`${base}/health`);
      return (r.body.checks as Record<string, { status: string }>).parquet?.status === 'degraded'
        ? r.body
        : null;
    });
    expect(JSON.stringify(health)).toContain('Parquet conversion failing');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/tradingsystem_data_capture_parquet_conversions_total\{result="failed"\} [1-9]/);
    expect(
      readdirSync(path.join(home, 'journal', 'marketdata')).filter((f) => f.endsWith('.seg')).length,
    ).toBeGreaterThan(1);

    rmSync(path.join(home, 'parquet', 'trades'));
    await waitFor(
      'conversion recovered',
      async () =>
        ((await get(`${base}/health`)).body.checks as Record<string, { status: string }>).parquet?.status ===
        'ok',
      15_000,
    );
    const cursor = (await get(`${base}/api/status`)).body.cursors as Record<string, { lastTradeId: number }>;
    await ctx.app.close();
    running = [];
    const numbers = await tradeNumbersInParquet(home);
    // Everything captured before the stop is in Parquet once each, from trade 1.
    for (const t of ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3']) {
      const n = numbers[t];
      expect(n?.min, t).toBe(1);
      expect(n?.rows, t).toBe(n?.distinct);
      expect(n?.rows, t).toBe(n?.max);
      expect(n?.max ?? 0, t).toBeGreaterThanOrEqual(cursor[t]?.lastTradeId ?? Number.POSITIVE_INFINITY);
    }
  });

  it('cuts a torn journal record at start, loses nothing before it, and backfills what followed', async () => {
    const first = await start();
    await new Promise((r) => setTimeout(r, 1_500));
    const home = first.home;
    await first.ctx.app.close();
    running = [];
    // A graceful stop leaves an empty segment open; a crash mid-append leaves a torn record in
    // the newest segment that has data. Recreate that state.
    const dir = path.join(home, 'journal', 'marketdata');
    const segments = readdirSync(dir)
      .filter((f) => f.endsWith('.seg'))
      .sort();
    for (const f of segments) if (statSync(path.join(dir, f)).size === 0) rmSync(path.join(dir, f));
    const newest = segments.filter((f) => existsSync(path.join(dir, f))).at(-1) as string;
    const torn = Buffer.alloc(30, 7);
    torn.writeUInt32LE(72, 0); // a frame header promising more than follows
    appendFileSync(path.join(dir, newest), torn);
    const sizeWithTear = statSync(path.join(dir, newest)).size;

    const second = await start(home);
    const health = await get(`${second.base}/health`);
    expect(health.status).toBe(200);
    expect(readdirSync(dir).some((f) => f.startsWith(newest) && f.includes('.torn-'))).toBe(true);
    expect(statSync(path.join(dir, newest)).size).toBe(sizeWithTear - 30);
    await waitFor(
      'gaps filled',
      async () => (await get(`${second.base}/api/gaps?state=open`)).body.count === 0,
    );
    await second.ctx.app.close();
    running = [];
    const numbers = await tradeNumbersInParquet(home);
    for (const t of ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3']) {
      expect(numbers[t]?.min, t).toBe(1);
      expect(numbers[t]?.rows, t).toBe(numbers[t]?.max);
      expect(numbers[t]?.distinct, t).toBe(numbers[t]?.max);
    }
  });

  it('puts a damaged, converted journal segment back together from Parquet: the feed replays whole', async () => {
    const first = await start();
    await new Promise((r) => setTimeout(r, 2_500));
    const home = first.home;
    await first.ctx.app.close(); // a graceful stop: every segment is in Parquet
    running = [];
    const dir = path.join(home, 'journal', 'marketdata');
    const segments = nonEmptySegments(dir);
    expect(segments.length).toBeGreaterThan(3);
    const victim = path.join(dir, segments[1] as string);
    const before = readFileSync(victim);
    garble(victim);

    const second = await start(home, sameMarket(first));
    const health = await get(`${second.base}/health`);
    expect(health.body.checks.journal).toMatchObject({ status: 'ok', damage: [{ file: victim, lost: [] }] });
    expect(health.body.checks.journal.damage[0].restored).toBeGreaterThan(0);
    expect(readFileSync(health.body.checks.journal.damage[0].keptAs)).toEqual(garbledCopy(before));
    // The feed's history is whole again: from=0 replays 1, 2, 3… with nothing missing.
    const got: FeedRecord<CapturedEvent>[] = [];
    const client = new FeedClient<CapturedEvent>({
      url: `ws://127.0.0.1:${second.port}${FEED_PATHS.market}`,
      from: 0,
      onRecords: (records) => got.push(...records),
    });
    client.start();
    const lastBefore = Number(segments.at(-1)?.slice(0, 16));
    await waitFor('replayed past the damage', () => (got.at(-1)?.seq ?? 0) > lastBefore);
    client.stop();
    expect(got.map((r) => r.seq)).toEqual(got.map((_, i) => i + 1));
    await second.ctx.app.close();
    running = [];
    await expectEachTradeOnce(home);
  });

  it('hands out no seq twice after the newest segment is damaged', async () => {
    const first = await start();
    await new Promise((r) => setTimeout(r, 1_500));
    const home = first.home;
    await first.ctx.app.close();
    running = [];
    const dir = path.join(home, 'journal', 'marketdata');
    const newest = path.join(dir, nonEmptySegments(dir).at(-1) as string);
    garble(newest, 0.1); // early in the file: most of it cannot be read any more
    const second = await start(home, sameMarket(first));
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await get(`${second.base}/health`)).body.checks.journal.status).toBe('ok');
    await second.ctx.app.close();
    running = [];
    const dupes = await duck(
      `SELECT seq, count(*) AS n FROM read_parquet('${path.join(home, 'parquet', '*', '*', '*', '*.parquet')}', union_by_name = true)
       GROUP BY seq HAVING count(*) > 1`,
    );
    expect(dupes, 'no seq in Parquet twice').toEqual([]);
    await expectEachTradeOnce(home);
  });

  it('fetches again the trades of a damaged segment that never reached Parquet', async () => {
    const home = tempHome('ts-dc-api-');
    // Conversion fails while capturing, so every segment exists only in the journal.
    mkdirSync(path.join(home, 'parquet'), { recursive: true });
    writeFileSync(path.join(home, 'parquet', 'trades'), 'in the way');
    const first = await start(home);
    await new Promise((r) => setTimeout(r, 2_500));
    await first.ctx.app.close();
    running = [];
    rmSync(path.join(home, 'parquet', 'trades'));
    const dir = path.join(home, 'journal', 'marketdata');
    const segments = nonEmptySegments(dir);
    expect(segments.length).toBeGreaterThan(3);
    garble(path.join(dir, segments[2] as string), 0.3);

    const second = await start(home, sameMarket(first));
    const journal = (await get(`${second.base}/health`)).body.checks.journal;
    expect(journal.status).toBe('degraded');
    expect(journal.detail).toContain('lost to damage');
    const gaps = await waitFor('damage gaps opened and filled', async () => {
      const g = (await get(`${second.base}/api/gaps`)).body.data as JsonBody[];
      return g.some((x) => x.reason === 'jump') && g.every((x) => x.state !== 'open') ? g : null;
    });
    const jumps = gaps.filter((g: JsonBody) => g.reason === 'jump');
    expect(
      jumps.every((g: JsonBody) => g.state === 'filled'),
      JSON.stringify(jumps),
    ).toBe(true);
    await waitFor(
      'converted',
      async () => (await get(`${second.base}/health`)).body.checks.parquet.pendingSegments <= 1,
    );
    await second.ctx.app.close();
    running = [];
    await expectEachTradeOnce(home);
  });

  it('keeps a damaged checkpoint aside and rebuilds from the journal without duplicating a trade', async () => {
    const first = await start();
    await new Promise((r) => setTimeout(r, 1_500));
    const home = first.home;
    await first.ctx.app.close();
    running = [];
    const file = path.join(home, 'journal', 'marketdata', 'checkpoint.json');
    writeFileSync(file, '{"seq": 12, "convertedThr');
    const second = await start(home, sameMarket(first));
    await new Promise((r) => setTimeout(r, 1_000));
    const kept = readdirSync(path.dirname(file)).filter((f) => f.startsWith('checkpoint.json.damaged-'));
    expect(kept).toHaveLength(1);
    expect(readFileSync(path.join(path.dirname(file), kept[0] as string), 'utf8')).toBe(
      '{"seq": 12, "convertedThr',
    );
    await second.ctx.app.close();
    running = [];
    await expectEachTradeOnce(home);
  });

  it('reports a damaged subscriptions file, keeps capturing the configured tickers and never overwrites it', async () => {
    const home = tempHome('ts-dc-api-');
    const file = path.join(home, 'data-capture', 'subscriptions.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '{"tickers": ["WINZ');
    const { base } = await start(home);
    const health = await get(`${base}/health`);
    expect(health.status).toBe(503);
    expect(health.body.checks.subscriptions).toMatchObject({ status: 'down', file });
    await waitFor(
      'still capturing',
      async () => ((await get(`${base}/api/trades?ticker=WINZ26&limit=1`)).body.count as number) > 0,
    );
    const add = await fetch(`${base}/api/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ticker: 'PETR4' }),
    });
    expect(add.status).toBe(503);
    expect(((await add.json()) as JsonBody).error.code).toBe('SUBSCRIPTIONS_UNAVAILABLE');
    expect(readFileSync(file, 'utf8')).toBe('{"tickers": ["WINZ');
  });

  it('sets a damaged Parquet file aside, answers from the rest, and rebuilds it from the journal', async () => {
    const { ctx, base, home } = await start();
    await new Promise((r) => setTimeout(r, 2_000));
    const trades = path.join(home, 'parquet', 'trades');
    const files = readdirSync(trades, { recursive: true })
      .map(String)
      .filter((f) => f.includes('ticker=WINZ26') && f.endsWith('.parquet'))
      .sort();
    expect(files.length).toBeGreaterThan(1);
    const victim = path.join(trades, files[0] as string);
    const bytes = readFileSync(victim);
    for (let i = 8; i < Math.min(400, bytes.length - 8); i++) bytes[i] = (bytes[i] as number) ^ 0x5a;
    writeFileSync(victim, bytes);

    const bars = await get(`${base}/api/bars?ticker=WINZ26&interval=1m`);
    expect(bars.status, JSON.stringify(bars.body)).toBe(200);
    const seen = await waitFor('reported', async () => {
      const log = readFileSync(path.join(home, 'logs', 'data-capture', `${localDay()}.jsonl`), 'utf8');
      return log.includes('"event":"capture.parquet_damaged"') ? log : null;
    });
    expect(seen).toContain('"recoverable":true');
    await waitFor('rebuilt from the journal', async () => {
      const h = await get(`${base}/health`);
      return h.body.checks.parquet.status === 'ok' && existsSync(victim);
    });
    const kept = readdirSync(path.join(home, 'parquet-damaged'), { recursive: true }).map(String);
    expect(kept.some((f) => f.startsWith(path.join('trades', files[0] as string)))).toBe(true);
    await ctx.app.close();
    running = [];
    await expectEachTradeOnce(home);
  });

  it('adds and removes subscriptions and keeps them across restarts', async () => {
    const home = tempHome('ts-dc-api-');
    const first = await start(home, { TRADINGSYSTEM__SERVICES__DATA_CAPTURE__SUBSCRIPTIONS: '["WINZ26"]' });
    const add = await fetch(`${first.base}/api/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ticker: 'PETR4' }),
    });
    expect(add.status).toBe(201);
    await waitFor(
      'PETR4 captured',
      async () => ((await get(`${first.base}/api/trades?ticker=PETR4&limit=1`)).body.count as number) > 0,
    );
    expect((await fetch(`${first.base}/api/subscriptions/WINZ26`, { method: 'DELETE' })).status).toBe(200);
    await first.ctx.app.close();
    running = [];
    const second = await start(home, { TRADINGSYSTEM__SERVICES__DATA_CAPTURE__SUBSCRIPTIONS: '["WINZ26"]' });
    const subs = (await get(`${second.base}/api/subscriptions`)).body.data as { ticker: string }[];
    expect(subs.map((s) => s.ticker)).toEqual(['PETR4']);
  });
});

/** Journal segments with data, oldest first. */
function nonEmptySegments(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.seg') && statSync(path.join(dir, f)).size > 0)
    .sort();
}

/** Flips a byte at `at` (a share of the file): the frame holding it fails its checksum. */
function garble(file: string, at = 0.5): void {
  writeFileSync(file, garbledCopy(readFileSync(file), at));
}

function garbledCopy(bytes: Buffer, at = 0.5): Buffer {
  const copy = Buffer.from(bytes);
  const i = Math.floor(copy.length * at);
  copy[i] = (copy[i] as number) ^ 0xff;
  return copy;
}

/** Parquet holds trade numbers 1..N of every ticker, each once. */
async function expectEachTradeOnce(home: string): Promise<void> {
  const numbers = await tradeNumbersInParquet(home);
  for (const t of ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3']) {
    expect(numbers[t]?.min, t).toBe(1);
    expect(numbers[t]?.rows, t).toBe(numbers[t]?.max);
    expect(numbers[t]?.distinct, t).toBe(numbers[t]?.max);
  }
}

const localDay = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date());
