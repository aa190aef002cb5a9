import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createProfitDllBroker } from '../src/adapters/broker/profitdll/index.js';
import { loadConfig } from '../src/config.js';
import type { BrokerEvent, BrokerOrderUpdate } from '../src/domain/execution.js';
import type { Trade } from '../src/domain/market-data.js';
import { SystemClock } from '../src/kernel/clock.js';
import { Registry } from '../src/kernel/metrics.js';
import { BrokerSession } from '../src/services/data-capture/broker-session.js';
import { configEnv, tempHome, waitFor } from './helpers/cli.js';
import { buildFakeProfitDll, fakeControls, writeCredentials } from './helpers/profitdll.js';

/**
 * The ProfitDLL adapter against the fake DLL in C, in this process: the DLL's own thread calls
 * back through koffi as the real one does. Data-capture's connection state machine drives the
 * market side; the routing side is checked update by update.
 */
let library: string;
let fake: ReturnType<typeof fakeControls>;
const SECRETS = ['key-123', 's3cret-pass', 'sign-pass'];

beforeAll(() => {
  library = buildFakeProfitDll();
  fake = fakeControls(library);
});

/** A broker over the fake with its own home, log lines kept for the secrets check. */
function broker() {
  const home = tempHome('ts-profitdll-adapter-');
  const env = configEnv(home, {
    services: { 'data-capture': { broker: 'profitdll' }, 'order-manager': { account: 'FAKE-001' } },
    profitdll: { library, credentialsFile: writeCredentials(home), historyTimeoutMs: 5_000 },
  });
  const config = loadConfig({ env });
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
  const registry = new Registry();
  const b = createProfitDllBroker(config, {
    logger,
    registry,
    orderLinksFile: path.join(home, 'profitdll-orders.jsonl'),
  });
  return { ...b, home, config, lines, registry };
}
type Broker = ReturnType<typeof broker>;

/** Data-capture's session over the broker's market side, with what it hands on. */
function marketSession(b: Broker, tickers = ['WINZ26']) {
  const trades: Trade[] = [];
  const events: BrokerEvent[] = [];
  const session = new BrokerSession({
    adapter: b.marketData,
    policy: { reconnectAttempts: 3, reconnectIntervalMs: 200, stallAfterMs: 60_000, escalateAfterMs: 60_000 },
    clock: new SystemClock(),
    logger: pino({ level: 'silent' }),
    subscriptions: () =>
      tickers.map((symbol) => ({ symbol, exchange: /^(WIN|WDO)/.test(symbol) ? 'F' : 'B' })),
    marketOpen: () => false,
  });
  b.marketData.listenMarketData({
    onEvent: (e) => {
      events.push(e);
      session.handleEvent(e);
    },
    onTrade: (t) => trades.push(t),
    onQuote: () => {},
  });
  return { session, trades, events };
}

let open: { session: BrokerSession; b: Broker } | null = null;
afterEach(async () => {
  if (open) await open.session.stop();
  open = null;
  fake.failLogin(0);
  fake.failActivation(0);
});

const attempts = () => Number(fake.loginAttempts());

describe('ProfitDLL adapter: market data', () => {
  it('logs in to Active, takes 50,000 trades decoded and in order with no kept pointer read, and never logs a secret', async () => {
    const b = broker();
    const m = marketSession(b);
    open = { session: m.session, b };
    await m.session.start();
    await waitFor('Active', () => m.session.state === 'Active');
    expect(m.events.map((e) => JSON.stringify(e))).toEqual([
      '{"type":"login","ok":true}',
      '{"type":"market","state":"connecting"}',
      '{"type":"market","state":"connected"}',
    ]);
    expect(b.session.latest).toEqual({ login: 0, routing: null, market: 4, activation: 0 });

    const T0 = Date.UTC(2026, 11, 7, 13, 0, 0); // 10:00 in São Paulo
    const N = 50_000;
    for (let i = 0; i < N; i++)
      fake.emitTrade('WINZ26', T0 + i, 130_000 + (i % 40) * 5, 1 + (i % 7), 3, 72, 2 + (i % 2));
    await waitFor('50,000 trades', () => m.trades.length >= N, 120_000, 50);
    expect(m.trades.length).toBe(N);
    expect(m.trades.every((t, i) => t.tradeId === i + 1 && t.ts === T0 + i)).toBe(true);
    expect(m.trades[7]).toEqual({
      ticker: 'WINZ26',
      exchange: 'F',
      ts: T0 + 7,
      tradeId: 8,
      price: 130_035,
      qty: 1,
      aggressor: 'SELL',
      buyAgent: 3,
      sellAgent: 72,
    });
    expect(Number(fake.badTranslations())).toBe(0);
    const metrics = await b.registry.metrics();
    expect(metrics).toMatch(/tradingsystem_profitdll_callbacks_total\{kind="trade"\} 50000/);
    expect(metrics).toMatch(/tradingsystem_profitdll_callback_errors_total\{kind="trade"\} 0/);
    for (const secret of SECRETS) expect(b.lines.join('\n')).not.toContain(secret);
    expect(b.lines.join('\n')).toContain('MARKET_CONNECTED');
  }, 180_000);

  it('after a dropped connection, subscribes again and backfills the gap through GetHistoryTrades', async () => {
    const b = broker();
    const m = marketSession(b, ['WDOZ26']);
    open = { session: m.session, b };
    await m.session.start();
    await waitFor('Active', () => m.session.state === 'Active');
    const T0 = Date.now() - 60_000;
    for (let i = 0; i < 100; i++) fake.emitTrade('WDOZ26', T0 + i * 10, 5_500 + i / 2, 1, 1, 2, 2);
    await waitFor('the first 100 live', () => m.trades.length === 100);

    fake.disconnect();
    await waitFor('disconnected', () => m.session.state !== 'Active');
    for (let i = 100; i < 350; i++) fake.emitTrade('WDOZ26', T0 + i * 10, 5_500 + i / 2, 1, 1, 2, 3);
    fake.reconnect();
    await waitFor('Active again', () => m.session.state === 'Active');
    fake.emitTrade('WDOZ26', T0 + 3_500, 5_600, 2, 1, 2, 2); // trade 351, live only if subscribed again
    await waitFor('a live trade after the reconnect', () => m.trades.at(-1)?.tradeId === 351);
    expect(m.trades.map((t) => t.tradeId).slice(0, 100)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );

    const gapFrom = m.trades[99]?.ts ?? 0;
    const history = await b.marketData.requestTradeHistory('WDOZ26', 'F', gapFrom + 1, T0 + 3_499);
    expect(history.map((t) => t.tradeId)).toEqual(Array.from({ length: 250 }, (_, i) => 101 + i));
    expect(history[0]).toMatchObject({ ts: T0 + 1_000, price: 5_550, aggressor: 'SELL' });
  }, 60_000);

  it('history requests one after another each get exactly their trades (a trailing progress never ends the next)', async () => {
    const b = broker();
    const m = marketSession(b, ['WINZ26']);
    open = { session: m.session, b };
    await m.session.start();
    await waitFor('Active', () => m.session.state === 'Active');
    // A ticker of its own: the fake's history is in time order per ticker, as an exchange's is.
    const T0 = Date.now() - 120_000;
    for (let i = 0; i < 200; i++) fake.emitTrade('BOVA11', T0 + i * 100, 5_500, 1, 1, 2, 2);
    // Windows of 1 to 4 trades, asked back to back as the backfiller does.
    const windows = Array.from({ length: 60 }, (_, w) => [T0 + w * 300, T0 + w * 300 + 299 - (w % 3) * 100]);
    const answers = await Promise.all(
      windows.map(([from, to]) =>
        b.marketData.requestTradeHistory('BOVA11', 'B', from as number, to as number),
      ),
    );
    for (const [w, answer] of answers.entries()) {
      const [from, to] = windows[w] as [number, number];
      const expected = Array.from({ length: 200 }, (_, i) => i + 1).filter((n) => {
        const ts = T0 + (n - 1) * 100;
        return ts >= from && ts <= to;
      });
      expect(
        answer.map((t) => t.tradeId),
        `window ${w}`,
      ).toEqual(expected);
    }
  }, 60_000);

  it('a handler that throws is caught and counted, never thrown into the DLL, and the next trades still come', async () => {
    const b = broker();
    const m = marketSession(b, ['VALE3']);
    const seen: number[] = [];
    b.marketData.listenMarketData({
      onEvent: (e) => m.session.handleEvent(e),
      onTrade: (t) => {
        seen.push(t.tradeId);
        if (t.tradeId === 3) throw new Error('a bug in a handler');
      },
      onQuote: () => {},
    });
    open = { session: m.session, b };
    await m.session.start();
    await waitFor('Active', () => m.session.state === 'Active');
    for (let i = 0; i < 5; i++) fake.emitTrade('VALE3', Date.now(), 60 + i / 100, 100, 1, 2, 2);
    await waitFor('five trades', () => seen.length === 5);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(await b.registry.metrics()).toMatch(
      /tradingsystem_profitdll_callback_errors_total\{kind="trade"\} 1/,
    );
    expect(b.lines.join('\n')).toContain(
      '"event":"profitdll.callback_failed","kind":"trade","err":"a bug in a handler"',
    );
  }, 30_000);

  it('top of book: both sides of a subscribed ticker become one quote per change', async () => {
    const b = broker();
    const quotes: { ticker: string; bidPrice: number; bidQty: number; askPrice: number; askQty: number }[] =
      [];
    const m = marketSession(b, ['PETR4']);
    b.marketData.listenMarketData({
      onEvent: (e) => m.session.handleEvent(e),
      onTrade: () => {},
      onQuote: (q) => quotes.push(q),
    });
    open = { session: m.session, b };
    await m.session.start();
    await waitFor('Active', () => m.session.state === 'Active');
    expect(fake.emitBook('PETR4', 0, 30.1, 500)).toBe(0); // bid alone: no quote yet
    expect(fake.emitBook('PETR4', 1, 30.12, 300)).toBe(0);
    expect(fake.emitBook('PETR4', 0, 30.11, 200)).toBe(0);
    await waitFor('two quotes', () => quotes.length === 2);
    expect(
      quotes.map(({ ticker, bidPrice, bidQty, askPrice, askQty }) => [
        ticker,
        bidPrice,
        bidQty,
        askPrice,
        askQty,
      ]),
    ).toEqual([
      ['PETR4', 30.1, 500, 30.12, 300],
      ['PETR4', 30.11, 200, 30.12, 300],
    ]);
  }, 30_000);

  it('an invalid password ends in InvalidCredentials with no second login; so does a refused activation key', async () => {
    for (const [fail, reason] of [
      [() => fake.failLogin(2), 'LOGIN_INVALID_PASS'],
      [() => fake.failActivation(1), 'CONNECTION_ACTIVATE_INVALID: the activation key was refused'],
    ] as const) {
      fail();
      const b = broker();
      const m = marketSession(b);
      open = { session: m.session, b };
      const before = attempts();
      await m.session.start();
      await waitFor('InvalidCredentials', () => m.session.state === 'InvalidCredentials');
      await new Promise((r) => setTimeout(r, 1_500)); // seven reconnect intervals
      expect(m.session.state).toBe('InvalidCredentials');
      expect(attempts() - before).toBe(1);
      expect(m.events).toContainEqual({ type: 'login', ok: false, reason });
      await m.session.stop();
      open = null;
      fake.failLogin(0);
      fake.failActivation(0);
    }
  }, 30_000);

  it('finalizes while thousands of callbacks are in flight, neither hanging nor crashing, and logs in again', async () => {
    const b = broker();
    const m = marketSession(b);
    await m.session.start();
    await waitFor('Active', () => m.session.state === 'Active');
    for (let i = 0; i < 5_000; i++) fake.emitTrade('WINZ26', Date.now(), 130_000, 1, 1, 2, 2);
    const started = Date.now();
    await m.session.stop();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(b.session.mode).toBeNull();
    const again = marketSession(b);
    open = { session: again.session, b };
    await again.session.start();
    await waitFor('Active again', () => again.session.state === 'Active');
  }, 30_000);
});

describe('ProfitDLL adapter: routing', () => {
  it('orders sent, filled in parts, modified, cancelled and rejected come back as updates; positions and reports agree after a restart', async () => {
    const b = broker();
    const updates: BrokerOrderUpdate[] = [];
    const events: BrokerEvent[] = [];
    b.execution.listenExecution({ onEvent: (e) => events.push(e), onOrderUpdate: (u) => updates.push(u) });
    await b.execution.connect();
    await waitFor('routing', () => events.some((e) => e.type === 'routing' && e.connected));
    const base = { account: 'FAKE-001', symbol: 'PETR4', exchange: 'B', timeInForce: 'DAY' } as const;

    const { brokerOrderId: a } = await b.execution.sendOrder({
      ...base,
      clientOrderId: 'c-a',
      side: 'BUY',
      type: 'LIMIT',
      quantity: 300,
      price: 30.5,
    });
    expect(a).toMatch(/^FAKE-\d+$/);
    const localA = Number(a.slice(5));
    await waitFor('accepted', () =>
      updates.some((u) => u.clientOrderId === 'c-a' && u.status === 'ACCEPTED'),
    );
    expect(fake.fillOrder(localA, 100, 30.4)).toBe(0);
    await waitFor('partial', () => updates.some((u) => u.status === 'PARTIALLY_FILLED'));
    await b.execution.modifyOrder(a, { quantity: 400, price: 30.6 });
    await waitFor('replaced', () => updates.some((u) => u.status === 'REPLACED'));
    expect(fake.fillOrder(localA, 300, 30.6)).toBe(0);
    await waitFor('filled', () => updates.some((u) => u.status === 'FILLED'));

    const { brokerOrderId: c } = await b.execution.sendOrder({
      ...base,
      clientOrderId: 'c-c',
      side: 'SELL',
      type: 'LIMIT',
      quantity: 100,
      price: 31,
    });
    await waitFor('c accepted', () =>
      updates.some((u) => u.clientOrderId === 'c-c' && u.status === 'ACCEPTED'),
    );
    await b.execution.cancelOrder(c);
    await waitFor('cancelled', () =>
      updates.some((u) => u.clientOrderId === 'c-c' && u.status === 'CANCELED'),
    );

    fake.rejectNextOrder('insufficient margin');
    await b.execution.sendOrder({ ...base, clientOrderId: 'c-r', side: 'BUY', type: 'MARKET', quantity: 5 });
    await waitFor('rejected', () =>
      updates.some((u) => u.clientOrderId === 'c-r' && u.status === 'REJECTED'),
    );

    const summary = updates.map(
      (u) =>
        `${u.clientOrderId} ${u.status}${u.fill ? ` ${u.fill.qty}@${u.fill.price} ${u.fill.tradeId}` : ''}${u.reason ? ` ${u.reason}` : ''}`,
    );
    expect(summary).toEqual([
      'c-a ACCEPTED',
      `c-a PARTIALLY_FILLED 100@30.4 ${a}#100`,
      'c-a REPLACED',
      `c-a FILLED 300@30.6 ${a}#400`,
      'c-c ACCEPTED',
      'c-c CANCELED',
      'c-r REJECTED insufficient margin',
    ]);
    expect(await b.execution.positions('FAKE-001')).toEqual([
      { account: 'FAKE-001', symbol: 'PETR4', quantity: 400, averagePrice: 30.55 },
    ]);
    await expect(
      b.execution.sendOrder({
        ...base,
        clientOrderId: 'c-bad',
        side: 'BUY',
        type: 'LIMIT',
        quantity: -1,
        price: 1,
      }),
    ).rejects.toThrow(/SendOrder: NL_INVALID_ARGS/);

    // SendCancelAllOrdersV2: every open order of the account goes.
    const { brokerOrderId: e1 } = await b.execution.sendOrder({
      ...base,
      clientOrderId: 'c-e1',
      side: 'BUY',
      type: 'LIMIT',
      quantity: 100,
      price: 29,
    });
    const { brokerOrderId: e2 } = await b.execution.sendOrder({
      ...base,
      clientOrderId: 'c-e2',
      side: 'BUY',
      type: 'LIMIT',
      quantity: 100,
      price: 28,
    });
    await b.execution.cancelAll('FAKE-001');
    await waitFor('both cancelled', () =>
      [e1, e2].every((id) => updates.some((u) => u.brokerOrderId === id && u.status === 'CANCELED')),
    );

    // A new order is filled while "we are away"; a new adapter on the same links file reconciles.
    const { brokerOrderId: d } = await b.execution.sendOrder({
      ...base,
      clientOrderId: 'c-d',
      side: 'SELL',
      type: 'LIMIT',
      quantity: 50,
      price: 32,
    });
    await b.execution.disconnect();
    b.execution.close();
    const after = broker();
    const linksFile = path.join(b.home, 'profitdll-orders.jsonl');
    const restarted = createProfitDllBroker(after.config, { orderLinksFile: linksFile });
    const reEvents: BrokerEvent[] = [];
    restarted.execution.listenExecution({ onEvent: (e) => reEvents.push(e), onOrderUpdate: () => {} });
    await restarted.execution.connect();
    await waitFor('routing again', () => reEvents.some((e) => e.type === 'routing' && e.connected));
    expect(fake.fillOrder(Number(d.slice(5)), 50, 32)).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    const reports = await restarted.execution.orderReports('FAKE-001', 0);
    const byClient = Object.fromEntries(reports.map((r) => [r.clientOrderId, r]));
    expect(byClient['c-a']).toMatchObject({ brokerOrderId: a, status: 'FILLED', filledQty: 400 });
    expect(byClient['c-a']?.fills.map((f) => f.tradeId)).toEqual([`${a}#100`, `${a}#400`]);
    expect(byClient['c-c']).toMatchObject({ status: 'CANCELED', filledQty: 0 });
    expect(byClient['c-r']).toMatchObject({ status: 'REJECTED', reason: 'insufficient margin' });
    expect(byClient['c-d']).toMatchObject({ brokerOrderId: d, status: 'FILLED', filledQty: 50 });
    expect(byClient['c-d']?.fills).toEqual([
      { tradeId: `${d}#50`, qty: 50, price: 32, ts: expect.any(Number) },
    ]);
    expect(await restarted.execution.openOrders('FAKE-001')).toEqual([]);

    // Killed between SendOrder and the DLL naming the order: only the request was written. The
    // order is found again by what it asked for, under its clientOrderId, and linked for good.
    const intentOnly = path.join(after.home, 'intent-only.jsonl');
    const intent = readFileSync(linksFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"t":"intent"') && l.includes('"c":"c-d"'));
    writeFileSync(intentOnly, `${intent.join('\n')}\n`);
    await restarted.execution.disconnect();
    restarted.execution.close();
    const third = createProfitDllBroker(after.config, { orderLinksFile: intentOnly });
    const thirdEvents: BrokerEvent[] = [];
    third.execution.listenExecution({ onEvent: (e) => thirdEvents.push(e), onOrderUpdate: () => {} });
    await third.execution.connect();
    await waitFor('routing, third', () => thirdEvents.some((e) => e.type === 'routing' && e.connected));
    const found = (await third.execution.orderReports('FAKE-001', 0)).filter((r) => r.brokerOrderId === d);
    expect(found.map((r) => r.clientOrderId)).toEqual(['c-d']);
    expect(readFileSync(intentOnly, 'utf8')).toContain(`{"t":"link","c":"c-d","id":"${d}"}`);
    await third.execution.disconnect();
    third.execution.close();
    expect(readFileSync(linksFile, 'utf8')).not.toContain('sign-pass');
  }, 60_000);
});
