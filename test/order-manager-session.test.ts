import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../src/adapters/broker/factory.js';
import { SimBrokerAdapter, simOptionsFromConfig } from '../src/adapters/broker/sim/index.js';
import { OrderJournal } from '../src/adapters/storage/order-journal.js';
import { loadConfig } from '../src/config.js';
import type { BrokerOrderRequest } from '../src/domain/execution.js';
import { type Clock, SystemClock } from '../src/kernel/clock.js';
import { DEFAULT_INSTRUMENTS } from '../src/kernel/config.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import type { ExecutionClient, ExecutionHandlers } from '../src/ports/broker.js';
import { emptyState, project } from '../src/services/order-manager/projection.js';
import { createOrderManagerService } from '../src/services/order-manager/service.js';
import { freePort, type JsonBody, tempHome, waitFor } from './helpers/cli.js';
import { type App, call, place, until, win } from './helpers/orders.js';

/**
 * The trading state across the session boundary: local midnight in the configured zone
 * (America/Sao_Paulo, UTC−3), where the daily P&L starts over.
 */
const ZONE = 'America/Sao_Paulo';
/** Local midnight between Tuesday 2026-06-16 and Wednesday 2026-06-17. */
const MIDNIGHT = Date.parse('2026-06-17T03:00:00Z');
const MINUTE = 60_000;

/** Real time, moved to a chosen instant and shifted by hand: the simulator keeps running on it. */
class ShiftedClock extends SystemClock {
  private offset: number;
  constructor(at: number) {
    super();
    this.offset = at - Date.now();
  }
  override now(): number {
    return Date.now() + this.offset;
  }
  set(at: number): void {
    this.offset = at - Date.now();
  }
}

/**
 * The simulator with its fill prices replaced: buys fill at 130,000 and sells at 90,000, so a WIN
 * round trip loses 40,000 points × R$0.20 = R$8,000, beyond the R$7,500 that HALTs by default.
 */
function losingSim(sim: SimBrokerAdapter): ExecutionClient {
  const sideOf = new Map<string, string>();
  return new Proxy(sim, {
    get(target, prop) {
      if (prop === 'listenExecution') {
        return (h: ExecutionHandlers) =>
          target.listenExecution({
            onEvent: (e) => h.onEvent(e),
            onOrderUpdate: (u) => {
              const price = sideOf.get(u.clientOrderId) === 'BUY' ? 130_000 : 90_000;
              h.onOrderUpdate(u.fill ? { ...u, fill: { ...u.fill, price } } : u);
            },
          });
      }
      if (prop === 'sendOrder') {
        return (o: BrokerOrderRequest) => {
          sideOf.set(o.clientOrderId, o.side);
          return target.sendOrder(o);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

let running: ServiceContext[] = [];
afterEach(async () => {
  for (const ctx of running.splice(0)) await ctx.app.close();
});

async function start(home: string, clock: Clock) {
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
    },
    cwd: home,
  });
  expect(config.timezone).toBe(ZONE);
  const service = createOrderManagerService({
    broker: (cfg, brokerClock, { venueFile }): Broker => {
      const sim = new SimBrokerAdapter({ ...simOptionsFromConfig(cfg), clock: brokerClock, venueFile });
      return {
        marketData: sim,
        execution: losingSim(sim),
        sim: null,
        library: null,
        marketOpen: (s, now) => sim.tape.isOpen(s, now),
      };
    },
  });
  const ctx = await buildService(service, { config, clock });
  running.push(ctx);
  await ctx.app.ready();
  await waitFor(
    'broker routing',
    async () => (await ctx.app.inject('/health')).json().checks.broker.status === 'ok',
  );
  return ctx;
}

async function stop(ctx: ServiceContext) {
  running = running.filter((c) => c !== ctx);
  await ctx.app.close();
}

const riskState = async (app: App) => (await call(app, 'GET', '/api/risk/state')).body.data as JsonBody;

/** A WIN round trip that loses R$8,000: the daily-loss limit HALTs trading. */
async function loseTheDay(app: App) {
  await until(app, (await place(app, win())).id, 'FILLED');
  await until(app, (await place(app, win({ side: 'SELL' }))).id, 'FILLED');
  await waitFor('HALTED by the daily loss', async () => (await riskState(app)).tradingState === 'HALTED');
  expect((await call(app, 'GET', '/api/pnl')).body.data.realised).toBe(-8_000);
}

async function expectRefused(app: App, code: string) {
  const r = await call(app, 'POST', '/api/orders', win());
  expect(r.status, JSON.stringify(r.body)).toBe(422);
  expect(r.body.error.code).toBe(code);
}

const stateAudit = async (app: App) =>
  (await call(app, 'GET', '/api/audit?action=risk.state')).body.data as JsonBody[];

/** The trading state a fold of the whole journal gives, as a restart computes it. */
async function replayedState(home: string) {
  const journal = OrderJournal.open(home);
  const state = emptyState(false);
  const instruments = new Map(DEFAULT_INSTRUMENTS.map((i) => [i.symbol, i]));
  for (const e of journal.replay()) project(state, e, instruments, ZONE);
  await journal.close();
  return { tradingState: state.tradingState, lossLimitSession: state.lossLimitSession };
}

describe('order manager: the trading state at a new session', () => {
  it('lifts a daily-loss HALT at local midnight: journaled, audited as system, orders accepted, rebuilt the same', async () => {
    const home = tempHome('ts-om-session-');
    const clock = new ShiftedClock(MIDNIGHT - 10 * MINUTE);
    const ctx = await start(home, clock);
    const { app } = ctx;
    await loseTheDay(app);
    expect(await riskState(app)).toMatchObject({ tradingState: 'HALTED', lossLimitSession: '2026-06-16' });
    await expectRefused(app, 'RISK_TRADING_HALTED');

    // Past midnight: the first order of the new session is accepted (its risk check lifts the HALT).
    clock.set(MIDNIGHT + 5_000);
    const order = await place(app, win());
    await until(app, order.id, 'FILLED');
    const state = await riskState(app);
    expect(state).toMatchObject({ tradingState: 'ACTIVE', lossLimitSession: null });
    expect(state.reason).toMatch(/^new session 2026-06-17: the daily-loss HALTED of 2026-06-16 is lifted$/);
    const audit = await stateAudit(app);
    expect(audit.map((a) => [a.actor, a.target, a.details.cause])).toEqual([
      ['system', 'ACTIVE', 'new-session'],
      ['risk-engine', 'HALTED', 'daily-loss'],
    ]);
    expect(audit[0]?.ts).toBeGreaterThanOrEqual(MIDNIGHT);
    await stop(ctx);

    // The journal alone gives ACTIVE, and a restart lifts nothing a second time.
    expect(await replayedState(home)).toEqual({ tradingState: 'ACTIVE', lossLimitSession: null });
    const again = await start(home, clock);
    expect((await riskState(again.app)).tradingState).toBe('ACTIVE');
    await place(again.app, win({ type: 'LIMIT', price: 100_000 }));
    expect(await stateAudit(again.app)).toHaveLength(2);
  });

  it('lifts it by itself at midnight, and at a start after midnight, with no order needed', async () => {
    const home = tempHome('ts-om-session-');
    const clock = new ShiftedClock(MIDNIGHT - 10 * MINUTE);
    let ctx = await start(home, clock);
    await loseTheDay(ctx.app);
    await stop(ctx);

    // Restarted seconds before midnight: still HALTED (same session); the midnight timer lifts it.
    clock.set(MIDNIGHT - 3_000);
    ctx = await start(home, clock);
    await waitFor('ACTIVE after midnight', async () => (await riskState(ctx.app)).tradingState === 'ACTIVE');
    const lifted = (await stateAudit(ctx.app))[0];
    expect(lifted).toMatchObject({ actor: 'system', target: 'ACTIVE' });
    expect(lifted?.ts).toBeGreaterThanOrEqual(MIDNIGHT);
    expect((await call(ctx.app, 'GET', '/health')).body.checks.risk).toMatchObject({ status: 'ok' });

    // Another loss on Wednesday; the service is down across Thursday's midnight and starts after it.
    await loseTheDay(ctx.app);
    await stop(ctx);
    clock.set(MIDNIGHT + 24 * 60 * MINUTE + 2 * MINUTE);
    expect((await replayedState(home)).tradingState).toBe('HALTED');
    ctx = await start(home, clock);
    await waitFor('ACTIVE at start', async () => (await riskState(ctx.app)).tradingState === 'ACTIVE');
    await place(ctx.app, win());
    expect(await replayedState(home)).toEqual({ tradingState: 'ACTIVE', lossLimitSession: null });
  });

  it('keeps a HALT a person set, and the kill switch, across midnight and restarts', async () => {
    const home = tempHome('ts-om-session-');
    const clock = new ShiftedClock(MIDNIGHT - 10 * MINUTE);
    let ctx = await start(home, clock);
    const halt = await call(
      ctx.app,
      'PUT',
      '/api/risk/state',
      { state: 'HALTED', reason: 'desk review' },
      'ops',
    );
    expect(halt.body.data).toMatchObject({ tradingState: 'HALTED', lossLimitSession: null });
    await call(ctx.app, 'POST', '/api/risk/kill-switch', { reason: 'drill' }, 'ops');

    clock.set(MIDNIGHT + 5_000);
    await expectRefused(ctx.app, 'RISK_KILL_SWITCH');
    expect(await riskState(ctx.app)).toMatchObject({ tradingState: 'HALTED', reason: 'desk review' });
    await stop(ctx);
    ctx = await start(home, clock);
    expect(await riskState(ctx.app)).toMatchObject({
      tradingState: 'HALTED',
      killSwitch: { active: true, reason: 'drill' },
    });
    await call(ctx.app, 'POST', '/api/risk/kill-switch/reset', { reason: 'drill over' }, 'ops');
    await expectRefused(ctx.app, 'RISK_TRADING_HALTED');
    expect((await stateAudit(ctx.app)).map((a) => a.actor)).toEqual(['ops']);
  });

  it('returns a daily-loss HALT to the REDUCING a person chose, not to ACTIVE', async () => {
    const home = tempHome('ts-om-session-');
    const clock = new ShiftedClock(MIDNIGHT - 10 * MINUTE);
    const ctx = await start(home, clock);
    // REDUCING lets only a position shrink: open it while ACTIVE, then go REDUCING and close at a loss.
    await until(ctx.app, (await place(ctx.app, win())).id, 'FILLED');
    await call(ctx.app, 'PUT', '/api/risk/state', { state: 'REDUCING', reason: 'cautious day' }, 'ops');
    await until(ctx.app, (await place(ctx.app, win({ side: 'SELL' }))).id, 'FILLED');
    await waitFor('HALTED', async () => (await riskState(ctx.app)).tradingState === 'HALTED');
    clock.set(MIDNIGHT + 5_000);
    await expectRefused(ctx.app, 'RISK_REDUCE_ONLY');
    expect(await riskState(ctx.app)).toMatchObject({ tradingState: 'REDUCING', lossLimitSession: null });
  });
});
