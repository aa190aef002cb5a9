import { describe, expect, it } from 'vitest';
import { DEFAULT_INSTRUMENTS } from '../kernel/config.js';
import { defaultInstrument } from '../kernel/test-support.js';
import { strictAjv } from '../kernel/validation.js';
import {
  checkBrokerReady,
  checkDailyLoss,
  checkDuplicateOrder,
  checkKillSwitch,
  checkKnownInstrument,
  checkLotSize,
  checkMaxNotional,
  checkMaxOpenOrders,
  checkMaxOrderQty,
  checkMaxPosition,
  checkOrderRate,
  checkPriceBand,
  checkReduceOnly,
  checkSignalConfidence,
  checkTickSize,
  checkTradingHalted,
  checkTradingHours,
  DEFAULT_RISK_LIMITS,
  evaluateAll,
  evaluateRisk,
  limitsFor,
  orderFingerprint,
  RISK_CHECKS,
  type RiskCheck,
  type RiskContext,
  type RiskLimits,
  RiskLimitsSchema,
  type RiskOrder,
  reducesPosition,
  riskLimitsProblems,
  type TradingStateOrigin,
  tradingStateAfterPnl,
  tradingStateAtSession,
  withTradingState,
} from './risk.js';

const instrument = defaultInstrument;
const WIN = instrument('WINZ26');
const WDO = instrument('WDOZ26');
const PETR = instrument('PETR4');

const SP = 'America/Sao_Paulo';
/** Wednesday 2026-06-17, 10:00 in São Paulo (UTC−3). */
const WED_10H = Date.UTC(2026, 5, 17, 13, 0);
/** São Paulo wall clock on that Wednesday. */
const spAt = (hh: number, mm: number, ss = 0) => Date.UTC(2026, 5, 17, hh + 3, mm, ss);

const winBuy: RiskOrder = {
  account: 'ACC1',
  symbol: 'WINZ26',
  side: 'BUY',
  type: 'LIMIT',
  quantity: 1,
  price: 128_000,
  clientOrderId: 'c-1',
};

/** A context every check passes. */
function ctx(overrides: Partial<RiskContext> = {}, order: Partial<RiskOrder> = {}): RiskContext {
  const merged = { ...winBuy, ...order };
  return {
    order: merged,
    instrument: DEFAULT_INSTRUMENTS.find((i) => i.symbol === merged.symbol),
    limits: DEFAULT_RISK_LIMITS,
    tradingState: 'ACTIVE',
    killSwitch: { active: false },
    brokerReady: true,
    now: WED_10H,
    timeZone: SP,
    lastPrice: 128_000,
    position: 0,
    openOrders: { count: 0, sameSideQty: 0 },
    recentOrders: [],
    recentFingerprints: [],
    dailyPnl: { realised: 0, unrealised: 0 },
    ...overrides,
  };
}

const withLimits = (patch: Partial<RiskLimits>): RiskLimits => ({ ...DEFAULT_RISK_LIMITS, ...patch });
const codeOf = (check: RiskCheck, c: RiskContext) => check(c)?.code ?? null;

describe('the passing context', () => {
  it('passes every check', () => {
    expect(evaluateRisk(ctx())).toBeNull();
    expect(evaluateAll(ctx())).toEqual([]);
  });
});

describe('checkKillSwitch', () => {
  it('rejects while the kill switch is active, with its reason', () => {
    expect(checkKillSwitch(ctx())).toBeNull();
    expect(checkKillSwitch(ctx({ killSwitch: { active: true, reason: 'drill' } }))).toMatchObject({
      code: 'RISK_KILL_SWITCH',
      details: { reason: 'drill' },
    });
  });
});

describe('checkTradingHalted', () => {
  it('rejects only HALTED', () => {
    expect(codeOf(checkTradingHalted, ctx({ tradingState: 'ACTIVE' }))).toBeNull();
    expect(codeOf(checkTradingHalted, ctx({ tradingState: 'REDUCING' }))).toBeNull();
    expect(codeOf(checkTradingHalted, ctx({ tradingState: 'HALTED' }))).toBe('RISK_TRADING_HALTED');
  });
});

describe('checkBrokerReady', () => {
  it('rejects when the broker is not ready', () => {
    expect(codeOf(checkBrokerReady, ctx())).toBeNull();
    expect(codeOf(checkBrokerReady, ctx({ brokerReady: false }))).toBe('RISK_BROKER_NOT_READY');
  });
});

describe('checkKnownInstrument', () => {
  it('rejects a symbol with no instrument', () => {
    expect(codeOf(checkKnownInstrument, ctx())).toBeNull();
    expect(checkKnownInstrument(ctx({ instrument: undefined }, { symbol: 'XYZW3' }))).toMatchObject({
      code: 'RISK_UNKNOWN_INSTRUMENT',
      details: { symbol: 'XYZW3' },
    });
  });
});

describe('checkTradingHours', () => {
  const at = (now: number, limits = DEFAULT_RISK_LIMITS) => codeOf(checkTradingHours, ctx({ now, limits }));

  it('opens at 09:00 and closes at 18:00 São Paulo time', () => {
    expect(at(spAt(8, 59, 59))).toBe('RISK_OUTSIDE_TRADING_HOURS');
    expect(at(spAt(9, 0))).toBeNull();
    expect(at(spAt(17, 59, 59))).toBeNull();
    expect(at(spAt(18, 0))).toBe('RISK_OUTSIDE_TRADING_HOURS');
  });

  it('says when it is and what the window is', () => {
    expect(checkTradingHours(ctx({ now: spAt(18, 7) }))?.details).toMatchObject({
      localTime: '18:07',
      weekday: 'Wednesday',
      open: '09:00',
      close: '18:00',
    });
  });

  it('rejects weekends', () => {
    const saturday10h = WED_10H + 3 * 86_400_000;
    expect(checkTradingHours(ctx({ now: saturday10h }))?.details).toMatchObject({ weekday: 'Saturday' });
    expect(at(saturday10h + 86_400_000)).toBe('RISK_OUTSIDE_TRADING_HOURS');
    expect(at(saturday10h + 2 * 86_400_000)).toBeNull();
  });

  it('takes a per-symbol window', () => {
    const limits = withLimits({ perSymbol: { WINZ26: { tradingClose: '18:25' } } });
    expect(at(spAt(18, 24, 59), limits)).toBeNull();
    expect(at(spAt(18, 25), limits)).toBe('RISK_OUTSIDE_TRADING_HOURS');
    expect(codeOf(checkTradingHours, ctx({ now: spAt(18, 24), limits }, { symbol: 'WDOZ26' }))).toBe(
      'RISK_OUTSIDE_TRADING_HOURS',
    );
  });

  it('uses the time zone it is given', () => {
    expect(codeOf(checkTradingHours, ctx({ now: Date.UTC(2026, 5, 17, 9, 0), timeZone: 'UTC' }))).toBeNull();
    expect(codeOf(checkTradingHours, ctx({ now: Date.UTC(2026, 5, 17, 9, 0) }))).toBe(
      'RISK_OUTSIDE_TRADING_HOURS',
    );
  });

  it('can be switched off', () => {
    expect(at(spAt(3, 0), withLimits({ enforceTradingHours: false }))).toBeNull();
  });
});

describe('reducesPosition / checkReduceOnly', () => {
  const reducing = (position: number, order: Partial<RiskOrder>, sameSideQty = 0) =>
    codeOf(
      checkReduceOnly,
      ctx({ tradingState: 'REDUCING', position, openOrders: { count: 0, sameSideQty } }, order),
    );

  it('lets a long position be sold down to flat, not past it', () => {
    expect(reducing(3, { side: 'SELL', quantity: 3 })).toBeNull();
    expect(reducing(3, { side: 'SELL', quantity: 4 })).toBe('RISK_REDUCE_ONLY');
    expect(reducing(3, { side: 'BUY', quantity: 1 })).toBe('RISK_REDUCE_ONLY');
  });

  it('lets a short position be bought back, counting open orders on the same side', () => {
    expect(reducing(-2, { side: 'BUY', quantity: 2 })).toBeNull();
    expect(reducing(-2, { side: 'BUY', quantity: 1 }, 1)).toBeNull();
    expect(reducing(-2, { side: 'BUY', quantity: 1 }, 2)).toBe('RISK_REDUCE_ONLY');
  });

  it('rejects everything when flat, and nothing while ACTIVE', () => {
    expect(reducing(0, { side: 'SELL', quantity: 1 })).toBe('RISK_REDUCE_ONLY');
    expect(codeOf(checkReduceOnly, ctx({ position: 0 }, { side: 'SELL', quantity: 5 }))).toBeNull();
    expect(reducesPosition(5, 'SELL', 5, 0)).toBe(true);
    expect(reducesPosition(5, 'SELL', 5, 1)).toBe(false);
  });
});

describe('checkTickSize', () => {
  const tick = (order: Partial<RiskOrder>) => checkTickSize(ctx({}, order));

  it('holds prices to the tick grid of each instrument', () => {
    expect(tick({ price: 128_005 })).toBeNull();
    expect(tick({ price: 128_003 })).toMatchObject({
      code: 'RISK_TICK_SIZE',
      details: { field: 'price', tickSize: 5 },
    });
    expect(tick({ symbol: 'WDOZ26', price: 5_400.5 })).toBeNull();
    expect(tick({ symbol: 'WDOZ26', price: 5_400.25 })?.code).toBe('RISK_TICK_SIZE');
    expect(tick({ symbol: 'PETR4', price: 38.51, quantity: 100 })).toBeNull();
    expect(tick({ symbol: 'PETR4', price: 38.515, quantity: 100 })?.code).toBe('RISK_TICK_SIZE');
  });

  it('checks the stop price too, and refuses prices at or below zero', () => {
    expect(tick({ type: 'STOP_LIMIT', price: 128_000, stopPrice: 127_995 })).toBeNull();
    expect(tick({ type: 'STOP_LIMIT', price: 128_000, stopPrice: 127_996 })?.details).toMatchObject({
      field: 'stopPrice',
    });
    expect(tick({ price: 0 })?.code).toBe('RISK_TICK_SIZE');
    expect(tick({ price: -5 })?.code).toBe('RISK_TICK_SIZE');
    expect(tick({ type: 'MARKET', price: undefined })).toBeNull();
  });
});

describe('checkLotSize', () => {
  it('wants whole lots: 100 shares for equities, 1 contract for futures', () => {
    expect(checkLotSize(ctx({}, { symbol: 'PETR4', price: 38.5, quantity: 100 }))).toBeNull();
    expect(checkLotSize(ctx({}, { symbol: 'PETR4', price: 38.5, quantity: 300 }))).toBeNull();
    expect(checkLotSize(ctx({}, { symbol: 'PETR4', price: 38.5, quantity: 150 }))).toMatchObject({
      code: 'RISK_LOT_SIZE',
      details: { quantity: 150, lotSize: 100 },
    });
    expect(checkLotSize(ctx({}, { quantity: 0 }))?.code).toBe('RISK_LOT_SIZE');
    expect(checkLotSize(ctx({}, { quantity: 1.5 }))?.code).toBe('RISK_LOT_SIZE');
  });
});

describe('checkMaxOrderQty', () => {
  it('allows up to 5 contracts and 1,000 shares by default', () => {
    expect(checkMaxOrderQty(ctx({}, { quantity: 5 }))).toBeNull();
    expect(checkMaxOrderQty(ctx({}, { quantity: 6 }))).toMatchObject({
      code: 'RISK_MAX_ORDER_QTY',
      details: { quantity: 6, maxOrderQty: 5 },
    });
    const petr = { symbol: 'PETR4', price: 38.5 };
    expect(checkMaxOrderQty(ctx({}, { ...petr, quantity: 1_000 }))).toBeNull();
    expect(checkMaxOrderQty(ctx({}, { ...petr, quantity: 1_100 }))?.code).toBe('RISK_MAX_ORDER_QTY');
  });

  it('takes a per-symbol override over the kind default', () => {
    const limits = withLimits({ perSymbol: { WINZ26: { maxOrderQty: 2 } } });
    expect(checkMaxOrderQty(ctx({ limits }, { quantity: 2 }))).toBeNull();
    expect(checkMaxOrderQty(ctx({ limits }, { quantity: 3 }))?.code).toBe('RISK_MAX_ORDER_QTY');
    expect(checkMaxOrderQty(ctx({ limits }, { symbol: 'WDOZ26', price: 5_400, quantity: 5 }))).toBeNull();
  });
});

describe('checkMaxNotional', () => {
  it('WIN: quantity × price × R$0.20, exact at the limit', () => {
    const limits = withLimits({ perSymbol: { WINZ26: { maxNotional: 128_000 } } });
    expect(checkMaxNotional(ctx({ limits }, { quantity: 5, price: 128_000 }))).toBeNull();
    expect(checkMaxNotional(ctx({ limits }, { quantity: 5, price: 128_005 }))).toMatchObject({
      code: 'RISK_MAX_NOTIONAL',
      details: { notional: 128_005, maxNotional: 128_000 },
    });
  });

  it('WDO: R$10 per point', () => {
    const limits = withLimits({ perSymbol: { WDOZ26: { maxNotional: 270_000 } } });
    const wdo = { symbol: 'WDOZ26', quantity: 5 };
    expect(checkMaxNotional(ctx({ limits }, { ...wdo, price: 5_400 }))).toBeNull();
    expect(checkMaxNotional(ctx({ limits }, { ...wdo, price: 5_400.5 }))?.code).toBe('RISK_MAX_NOTIONAL');
  });

  it('equities: compared in cents, free of float residue', () => {
    const limits = withLimits({ perSymbol: { PETR4: { maxNotional: 3_851 } } });
    const petr = { symbol: 'PETR4', quantity: 100 };
    expect(checkMaxNotional(ctx({ limits }, { ...petr, price: 38.51 }))).toBeNull();
    expect(checkMaxNotional(ctx({ limits }, { ...petr, price: 38.52 }))?.code).toBe('RISK_MAX_NOTIONAL');
  });

  it('values MARKET orders at the last trade, or the reference price before one', () => {
    const limits = withLimits({ perSymbol: { WINZ26: { maxNotional: 25_600 } } });
    const market = { type: 'MARKET' as const, price: undefined, quantity: 1 };
    expect(checkMaxNotional(ctx({ limits, lastPrice: 128_000 }, market))).toBeNull();
    expect(checkMaxNotional(ctx({ limits, lastPrice: 128_005 }, market))?.code).toBe('RISK_MAX_NOTIONAL');
    expect(checkMaxNotional(ctx({ limits, lastPrice: undefined }, market))).toBeNull();
    expect(WIN.referencePrice).toBe(128_000);
  });

  it('values STOP orders at their stop price', () => {
    const limits = withLimits({ perSymbol: { WINZ26: { maxNotional: 25_600 } } });
    const stop = { type: 'STOP' as const, price: undefined, quantity: 1 };
    expect(checkMaxNotional(ctx({ limits }, { ...stop, stopPrice: 128_000 }))).toBeNull();
    expect(checkMaxNotional(ctx({ limits }, { ...stop, stopPrice: 128_005 }))?.code).toBe(
      'RISK_MAX_NOTIONAL',
    );
  });
});

describe('checkPriceBand', () => {
  const band = (price: number, extra: Partial<RiskContext> = {}, order: Partial<RiskOrder> = {}) =>
    codeOf(checkPriceBand, ctx({ lastPrice: 128_000, ...extra }, { price, ...order }));

  it('WIN: 2% of 128,000 is 2,560 points either way', () => {
    expect(band(130_560)).toBeNull();
    expect(band(130_565)).toBe('RISK_PRICE_BAND');
    expect(band(125_440)).toBeNull();
    expect(band(125_435)).toBe('RISK_PRICE_BAND');
  });

  it('equities: 5% of 38.50 is 192 whole ticks', () => {
    const petr = { symbol: 'PETR4', quantity: 100 };
    expect(band(40.42, { lastPrice: 38.5 }, petr)).toBeNull();
    expect(band(40.43, { lastPrice: 38.5 }, petr)).toBe('RISK_PRICE_BAND');
    expect(checkPriceBand(ctx({ lastPrice: 38.5 }, { ...petr, price: 40.43 }))?.details).toMatchObject({
      distanceTicks: 193,
      allowedTicks: 192,
    });
  });

  it('is skipped without a last trade and for stop orders', () => {
    expect(band(200_000, { lastPrice: undefined })).toBeNull();
    expect(band(200_000, {}, { type: 'STOP_LIMIT', stopPrice: 200_000 })).toBeNull();
    expect(band(200_000, {}, { type: 'MARKET' })).toBeNull();
  });

  it('takes a per-symbol band', () => {
    const limits = withLimits({ perSymbol: { WINZ26: { priceBandPct: 1 } } });
    expect(band(129_280, { limits })).toBeNull();
    expect(band(129_285, { limits })).toBe('RISK_PRICE_BAND');
  });
});

describe('checkMaxPosition', () => {
  const pos = (position: number, order: Partial<RiskOrder>, sameSideQty = 0, limits = DEFAULT_RISK_LIMITS) =>
    codeOf(checkMaxPosition, ctx({ position, limits, openOrders: { count: 0, sameSideQty } }, order));

  it('futures: ±5 contracts by default', () => {
    expect(pos(4, { quantity: 1 })).toBeNull();
    expect(pos(4, { quantity: 2 })).toBe('RISK_MAX_POSITION');
    expect(pos(-5, { side: 'SELL', quantity: 1 })).toBe('RISK_MAX_POSITION');
    expect(pos(-5, { quantity: 10 })).toBeNull();
    expect(pos(-5, { quantity: 11 })).toBe('RISK_MAX_POSITION');
  });

  it('counts open orders on the same side as if they filled', () => {
    expect(pos(3, { quantity: 1 }, 1)).toBeNull();
    expect(pos(3, { quantity: 1 }, 2)).toBe('RISK_MAX_POSITION');
    expect(
      checkMaxPosition(ctx({ position: 3, openOrders: { count: 2, sameSideQty: 2 } }))?.details,
    ).toMatchObject({
      projected: 6,
      maxPosition: 5,
    });
  });

  it('equities: 1,000 shares by default', () => {
    const petr = { symbol: 'PETR4', price: 38.5 };
    expect(pos(900, { ...petr, quantity: 100 })).toBeNull();
    expect(pos(900, { ...petr, quantity: 200 })).toBe('RISK_MAX_POSITION');
  });

  it('lets a position above a lowered limit shrink', () => {
    expect(pos(8, { side: 'SELL', quantity: 1 })).toBeNull();
    expect(pos(8, { side: 'BUY', quantity: 1 })).toBe('RISK_MAX_POSITION');
    expect(pos(8, { side: 'SELL', quantity: 16 })).toBe('RISK_MAX_POSITION');
  });
});

describe('tradingStateAfterPnl', () => {
  const stateAt = (pnl: number, current: 'ACTIVE' | 'REDUCING' | 'HALTED' = 'ACTIVE') =>
    tradingStateAfterPnl(current, { realised: pnl, unrealised: 0 }, DEFAULT_RISK_LIMITS);

  it('REDUCING at −R$5,000, HALTED at −R$7,500', () => {
    expect(stateAt(-4_999.99)).toBe('ACTIVE');
    expect(stateAt(-5_000)).toBe('REDUCING');
    expect(stateAt(-7_499.99)).toBe('REDUCING');
    expect(stateAt(-7_500)).toBe('HALTED');
  });

  it('only tightens', () => {
    expect(stateAt(1_000, 'REDUCING')).toBe('REDUCING');
    expect(stateAt(-6_000, 'HALTED')).toBe('HALTED');
  });

  it('adds realised and unrealised', () => {
    expect(
      tradingStateAfterPnl('ACTIVE', { realised: -3_000, unrealised: -2_000 }, DEFAULT_RISK_LIMITS),
    ).toBe('REDUCING');
  });
});

describe('trading state at a new session', () => {
  const fresh: TradingStateOrigin = {
    tradingState: 'ACTIVE',
    chosenTradingState: 'ACTIVE',
    lossLimitSession: null,
  };
  const MON = '2026-06-15';
  const TUE = '2026-06-16';

  it('a daily-loss HALTED is lifted back to ACTIVE from the next session, not before', () => {
    const reducing = withTradingState(fresh, 'REDUCING', 'daily-loss', MON);
    const halted = withTradingState(reducing, 'HALTED', 'daily-loss', MON);
    expect(halted).toEqual({ tradingState: 'HALTED', chosenTradingState: 'ACTIVE', lossLimitSession: MON });
    expect(tradingStateAtSession(halted, MON)).toBeNull();
    expect(tradingStateAtSession(halted, TUE)).toBe('ACTIVE');
    // A clock stepped back never lifts it.
    expect(tradingStateAtSession(halted, '2026-06-14')).toBeNull();
    const lifted = withTradingState(halted, 'ACTIVE', 'new-session', TUE);
    expect(lifted).toEqual(fresh);
    expect(tradingStateAtSession(lifted, '2026-06-17')).toBeNull();
  });

  it('a state a person set survives any number of sessions', () => {
    const halted = withTradingState(fresh, 'HALTED', 'operator', MON);
    expect(tradingStateAtSession(halted, TUE)).toBeNull();
    // A person's choice also replaces a daily-loss state: that one is no longer the clock's to lift.
    const byLoss = withTradingState(fresh, 'REDUCING', 'daily-loss', MON);
    const overruled = withTradingState(byLoss, 'HALTED', 'operator', MON);
    expect(tradingStateAtSession(overruled, TUE)).toBeNull();
  });

  it('returns to the state a person chose, never looser', () => {
    const chosen = withTradingState(fresh, 'REDUCING', 'operator', MON);
    const halted = withTradingState(chosen, 'HALTED', 'daily-loss', MON);
    expect(tradingStateAtSession(halted, TUE)).toBe('REDUCING');
    const released = withTradingState(halted, 'ACTIVE', 'operator', MON);
    expect(tradingStateAtSession(released, TUE)).toBeNull();
  });
});

describe('checkDailyLoss', () => {
  it('rejects at −R$5,000 and says where trading should go', () => {
    expect(checkDailyLoss(ctx({ dailyPnl: { realised: -3_000, unrealised: -1_999.99 } }))).toBeNull();
    expect(checkDailyLoss(ctx({ dailyPnl: { realised: -3_000, unrealised: -2_000 } }))).toMatchObject({
      code: 'RISK_DAILY_LOSS',
      details: { dailyPnl: -5_000, dailyLossLimit: 5_000, tradingState: 'REDUCING' },
    });
    expect(checkDailyLoss(ctx({ dailyPnl: { realised: -7_500, unrealised: 0 } }))?.details).toMatchObject({
      tradingState: 'HALTED',
    });
  });

  it('still lets an order that reduces the position out', () => {
    const breached = { dailyPnl: { realised: -6_000, unrealised: 0 }, position: 2 };
    expect(checkDailyLoss(ctx(breached, { side: 'SELL', quantity: 2 }))).toBeNull();
    expect(checkDailyLoss(ctx(breached, { side: 'SELL', quantity: 3 }))?.code).toBe('RISK_DAILY_LOSS');
  });
});

describe('checkOrderRate', () => {
  const now = WED_10H;
  const times = (n: number, ageMs: number) => Array.from({ length: n }, () => now - ageMs);

  it('allows 10 orders per second per account', () => {
    expect(checkOrderRate(ctx({ recentOrders: times(9, 10) }))).toBeNull();
    expect(checkOrderRate(ctx({ recentOrders: times(10, 10) }))).toMatchObject({
      code: 'RISK_ORDER_RATE',
      details: { count: 10, maxOrdersPerWindow: 10, windowMs: 1_000 },
    });
  });

  it('forgets orders once they leave the window', () => {
    // Oldest first, as the projection keeps them.
    expect(checkOrderRate(ctx({ recentOrders: [...times(5, 1_000), ...times(9, 999)] }))).toBeNull();
    expect(checkOrderRate(ctx({ recentOrders: times(10, 999) }))?.code).toBe('RISK_ORDER_RATE');
  });
});

describe('checkMaxOpenOrders', () => {
  it('allows up to 20 open orders', () => {
    expect(checkMaxOpenOrders(ctx({ openOrders: { count: 19, sameSideQty: 0 } }))).toBeNull();
    expect(checkMaxOpenOrders(ctx({ openOrders: { count: 20, sameSideQty: 0 } }))?.code).toBe(
      'RISK_MAX_OPEN_ORDERS',
    );
  });
});

describe('checkDuplicateOrder', () => {
  const previous = (ageMs: number, patch: Partial<RiskOrder> = {}) =>
    orderFingerprint({ ...winBuy, clientOrderId: 'c-0', ...patch }, WED_10H - ageMs);
  const dup = (...fps: ReturnType<typeof previous>[]) =>
    codeOf(checkDuplicateOrder, ctx({ recentFingerprints: fps }));

  it('rejects the same order within a second', () => {
    expect(dup(previous(999))).toBe('RISK_DUPLICATE_ORDER');
    expect(dup(previous(1_000))).toBeNull();
    expect(checkDuplicateOrder(ctx({ recentFingerprints: [previous(250)] }))?.details).toMatchObject({
      previousClientOrderId: 'c-0',
      ageMs: 250,
    });
  });

  it('does not count a retry with the same clientOrderId', () => {
    expect(dup(previous(10, { clientOrderId: 'c-1' }))).toBeNull();
  });

  it('tells orders apart by account, symbol, side, type, quantity and prices', () => {
    for (const patch of [
      { account: 'ACC2' },
      { side: 'SELL' as const },
      { quantity: 2 },
      { price: 128_005 },
      { type: 'STOP_LIMIT' as const, stopPrice: 128_000 },
      { symbol: 'WDOZ26' },
    ]) {
      expect(dup(previous(10, patch))).toBeNull();
    }
  });
});

describe('checkSignalConfidence', () => {
  it('needs 0.65 from a signal and nothing from a manual order', () => {
    expect(checkSignalConfidence(ctx({}, { signalConfidence: 0.65 }))).toBeNull();
    expect(checkSignalConfidence(ctx({}, { signalConfidence: 0.6499 }))).toMatchObject({
      code: 'RISK_SIGNAL_CONFIDENCE',
      details: { signalConfidence: 0.6499, minSignalConfidence: 0.65 },
    });
    expect(checkSignalConfidence(ctx())).toBeNull();
  });
});

describe('evaluateRisk / evaluateAll', () => {
  it('runs the checks in the documented order', () => {
    expect(RISK_CHECKS.map((c) => c.code)).toEqual([
      'RISK_LIMITS_INVALID',
      'RISK_KILL_SWITCH',
      'RISK_TRADING_HALTED',
      'RISK_BROKER_NOT_READY',
      'RISK_UNKNOWN_INSTRUMENT',
      'RISK_OUTSIDE_TRADING_HOURS',
      'RISK_REDUCE_ONLY',
      'RISK_TICK_SIZE',
      'RISK_LOT_SIZE',
      'RISK_MAX_ORDER_QTY',
      'RISK_MAX_NOTIONAL',
      'RISK_PRICE_BAND',
      'RISK_MAX_POSITION',
      'RISK_DAILY_LOSS',
      'RISK_ORDER_RATE',
      'RISK_MAX_OPEN_ORDERS',
      'RISK_DUPLICATE_ORDER',
      'RISK_SIGNAL_CONFIDENCE',
    ]);
  });

  it('returns the first failure, and evaluateAll every one', () => {
    const bad = ctx(
      { brokerReady: false, openOrders: { count: 50, sameSideQty: 0 } },
      { quantity: 6, price: 128_003, signalConfidence: 0.1 },
    );
    expect(evaluateRisk(bad)?.code).toBe('RISK_BROKER_NOT_READY');
    expect(evaluateAll(bad).map((r) => r.code)).toEqual([
      'RISK_BROKER_NOT_READY',
      'RISK_TICK_SIZE',
      'RISK_MAX_ORDER_QTY',
      'RISK_MAX_POSITION',
      'RISK_MAX_OPEN_ORDERS',
      'RISK_SIGNAL_CONFIDENCE',
    ]);
  });

  it('skips the instrument checks for an unknown instrument', () => {
    const unknown = ctx({ instrument: undefined }, { symbol: 'NOPE3', quantity: 7 });
    expect(evaluateAll(unknown).map((r) => r.code)).toEqual(['RISK_UNKNOWN_INSTRUMENT']);
  });
});

describe('limits', () => {
  const validate = strictAjv.compile(RiskLimitsSchema);

  it('the defaults satisfy the schema and have no problems', () => {
    expect(validate(structuredClone(DEFAULT_RISK_LIMITS))).toBe(true);
    expect(riskLimitsProblems(DEFAULT_RISK_LIMITS)).toEqual([]);
  });

  it('the schema refuses unknown fields, bad symbols and bad values', () => {
    const withPerSymbol = (perSymbol: unknown) => ({ ...DEFAULT_RISK_LIMITS, perSymbol });
    expect(validate(withPerSymbol({ WINZ26: { maxOrderQty: 2 } }))).toBe(true);
    expect(validate(withPerSymbol({ WINZ26: { maxOrderQtty: 2 } }))).toBe(false);
    expect(validate(withPerSymbol({ 'win z26': { maxOrderQty: 2 } }))).toBe(false);
    expect(validate(withPerSymbol({ WINZ26: { tradingOpen: '9:00' } }))).toBe(false);
    expect(validate({ ...DEFAULT_RISK_LIMITS, extra: 1 })).toBe(false);
    expect(validate({ ...DEFAULT_RISK_LIMITS, dailyLossLimit: 0 })).toBe(false);
    expect(validate({ ...DEFAULT_RISK_LIMITS, minSignalConfidence: 1.2 })).toBe(false);
  });

  it('riskLimitsProblems catches a window that closes before it opens', () => {
    const limits = withLimits({ perSymbol: { WINZ26: { tradingOpen: '18:00', tradingClose: '09:00' } } });
    expect(riskLimitsProblems(limits)).toEqual([
      'perSymbol.WINZ26: tradingOpen 18:00 must be before tradingClose 09:00',
    ]);
  });

  it('limitsFor merges the override over the kind default, once per limits object', () => {
    const limits = withLimits({ perSymbol: { WDOZ26: { maxPosition: 2 } } });
    const wdo = limitsFor(limits, WDO);
    expect(wdo).toMatchObject({ maxPosition: 2, maxOrderQty: 5, openMinute: 540, closeMinute: 1080 });
    expect(limitsFor(limits, WDO)).toBe(wdo);
    expect(limitsFor(DEFAULT_RISK_LIMITS, WDO).maxPosition).toBe(5);
    expect(limitsFor(limits, PETR).maxPosition).toBe(1_000);
  });
});
