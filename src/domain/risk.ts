/**
 * The pre-trade risk engine. Pure: every check is a named function of a `RiskContext` that answers
 * `null` (pass) or a rejection with a stable code. Hot path: no allocation unless an order fails;
 * per-symbol limits and trading-hour minutes are resolved once per limits object and cached.
 */
import Type, { type Static } from 'typebox';
import type { RiskCode } from '../kernel/errors.js';
import { localWallMs } from '../kernel/time.js';
import { describe, nonFinitePath, strictAjv } from '../kernel/validation.js';
import { type Instrument, isOnTick, minutesOf } from './instruments.js';
import type { OrderSide, OrderType } from './orders.js';

export const TRADING_STATES = ['ACTIVE', 'REDUCING', 'HALTED'] as const;
export type TradingState = (typeof TRADING_STATES)[number];

/** Every limit has a ceiling: a typo (or `1e309`, which parses as Infinity) must not switch a check off. */
const DAY_MS = 86_400_000;
const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' });

const instrumentLimitFields = {
  /** Largest quantity one order may carry (contracts or shares). */
  maxOrderQty: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  /** Largest absolute net position per account and symbol, counting same-side open orders. */
  maxPosition: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
  /** Largest order notional in BRL: quantity × price × pointValue. */
  maxNotional: Type.Number({ exclusiveMinimum: 0, maximum: 10_000_000_000 }),
  /** Fat-finger band: a LIMIT price at most this % away from the last trade. */
  priceBandPct: Type.Number({ exclusiveMinimum: 0, maximum: 100 }),
  /** Orders accepted from `tradingOpen` (inclusive) to `tradingClose` (exclusive), local time. */
  tradingOpen: HHMM,
  tradingClose: HHMM,
};

export const InstrumentRiskLimitsSchema = Type.Object(instrumentLimitFields, { additionalProperties: false });
export type InstrumentRiskLimits = Static<typeof InstrumentRiskLimitsSchema>;

/**
 * What `PUT /api/risk/limits` takes: defaults per instrument kind, overrides per symbol, and the
 * account-wide limits. Check `riskLimitsProblems` too: a schema cannot compare two fields.
 */
export const RiskLimitsSchema = Type.Object(
  {
    future: InstrumentRiskLimitsSchema,
    equity: InstrumentRiskLimitsSchema,
    perSymbol: Type.Record(
      Type.String({ pattern: '^[A-Z0-9]{1,20}$' }),
      Type.Partial(InstrumentRiskLimitsSchema, { additionalProperties: false }),
      { additionalProperties: false },
    ),
    /** Off for simulator sessions that trade around the clock. */
    enforceTradingHours: Type.Boolean(),
    /** BRL; realised + unrealised at or below −this moves trading to REDUCING. */
    dailyLossLimit: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000_000 }),
    /** HALTED at dailyLossLimit × this. */
    haltLossMultiplier: Type.Number({ minimum: 1, maximum: 100 }),
    maxOrdersPerWindow: Type.Integer({ minimum: 1, maximum: 100_000 }),
    orderRateWindowMs: Type.Integer({ minimum: 1, maximum: DAY_MS }),
    maxOpenOrders: Type.Integer({ minimum: 1, maximum: 100_000 }),
    duplicateWindowMs: Type.Integer({ minimum: 0, maximum: DAY_MS }),
    minSignalConfidence: Type.Number({ minimum: 0, maximum: 1 }),
  },
  { additionalProperties: false },
);
export type RiskLimits = Static<typeof RiskLimitsSchema>;

export const DEFAULT_RISK_LIMITS: RiskLimits = {
  future: {
    maxOrderQty: 5,
    maxPosition: 5,
    maxNotional: 500_000,
    priceBandPct: 2,
    tradingOpen: '09:00',
    tradingClose: '18:00',
  },
  equity: {
    maxOrderQty: 1_000,
    maxPosition: 1_000,
    maxNotional: 100_000,
    priceBandPct: 5,
    tradingOpen: '09:00',
    tradingClose: '18:00',
  },
  perSymbol: {},
  enforceTradingHours: true,
  dailyLossLimit: 5_000,
  haltLossMultiplier: 1.5,
  maxOrdersPerWindow: 10,
  orderRateWindowMs: 1_000,
  maxOpenOrders: 20,
  duplicateWindowMs: 1_000,
  minSignalConfidence: 0.65,
};

const validateLimits = strictAjv.compile(RiskLimitsSchema);

/**
 * Why a limits object (from the journal, say) cannot be traded on, or null when it can: the schema,
 * finite numbers and `riskLimitsProblems`. JSON has no Infinity, so a journaled one reads as null.
 */
export function invalidRiskLimits(limits: unknown): string | null {
  const at = nonFinitePath(limits);
  if (at !== null) return `${at.slice(1).replace(/\//g, '.') || '(root)'} must be a finite number`;
  if (!validateLimits(structuredClone(limits))) {
    const err = validateLimits.errors?.[0];
    return err ? describe(err).message : 'invalid limits';
  }
  const problems = riskLimitsProblems(limits as RiskLimits);
  return problems.length > 0 ? problems.join('; ') : null;
}

/** What the schema cannot catch: trading windows that close before they open. */
export function riskLimitsProblems(limits: RiskLimits): string[] {
  const problems: string[] = [];
  const windows: [string, Partial<InstrumentRiskLimits>][] = [
    ['future', limits.future],
    ['equity', limits.equity],
    ...Object.entries(limits.perSymbol).map(([symbol, l]): [string, Partial<InstrumentRiskLimits>] => [
      `perSymbol.${symbol}`,
      l,
    ]),
  ];
  for (const [where, l] of windows) {
    if (l.tradingOpen !== undefined && l.tradingClose !== undefined && l.tradingOpen >= l.tradingClose) {
      problems.push(`${where}: tradingOpen ${l.tradingOpen} must be before tradingClose ${l.tradingClose}`);
    }
  }
  return problems;
}

export interface RiskOrder {
  account: string;
  symbol: string;
  side: OrderSide;
  type: OrderType;
  quantity: number;
  price?: number;
  stopPrice?: number;
  clientOrderId?: string;
  strategyId?: string;
  /** Present on orders a strategy's signal produced; 0..1. */
  signalConfidence?: number;
}

/** An order recently let through, for the duplicate check. */
export type OrderFingerprint = Pick<
  RiskOrder,
  'account' | 'symbol' | 'side' | 'type' | 'quantity' | 'price' | 'stopPrice' | 'clientOrderId'
> & { ts: number };

export interface RiskContext {
  order: RiskOrder;
  instrument: Instrument | undefined;
  limits: RiskLimits;
  /** Set when the journal holds limits that cannot be traded on: every order is refused until fixed. */
  limitsProblem?: string | null;
  tradingState: TradingState;
  killSwitch: { active: boolean; reason?: string };
  /** Broker connection Active and no reconciliation running. */
  brokerReady: boolean;
  /** Epoch ms. */
  now: number;
  /** Session time zone, America/Sao_Paulo. */
  timeZone: string;
  /** Last trade of the symbol; absent before the first one. */
  lastPrice?: number;
  /** Signed net position of the account in the symbol. */
  position: number;
  openOrders: {
    /** Open orders of the account, all symbols. */
    count: number;
    /** Leaves quantity of the account's open orders in this symbol on this order's side. */
    sameSideQty: number;
  };
  /** When the account's recent orders passed risk, epoch ms, oldest first; older than the window are ignored. */
  recentOrders: readonly number[];
  /** Oldest first. */
  recentFingerprints: readonly OrderFingerprint[];
  /** BRL, today's session. */
  dailyPnl: { realised: number; unrealised: number };
}

/** What a failing check found; the check adds its code. */
export interface RiskFinding {
  message: string;
  details: Record<string, unknown>;
}

export interface RiskRejection extends RiskFinding {
  code: RiskCode;
}

/** A check and the code it rejects with (the catalogue's, kernel/errors.ts): null when the order passes. */
export interface RiskCheck {
  (ctx: RiskContext): RiskRejection | null;
  readonly code: RiskCode;
}

/** The one place a check's code is written: what `find` reports becomes a rejection with that code. */
function riskCheck(code: RiskCode, find: (ctx: RiskContext) => RiskFinding | null): RiskCheck {
  const check = (ctx: RiskContext): RiskRejection | null => {
    const found = find(ctx);
    return found && { code, ...found };
  };
  return Object.assign(check, { code });
}

/** Instrument limits with the per-symbol override applied and the trading window in minutes. */
export interface ResolvedLimits extends InstrumentRiskLimits {
  openMinute: number;
  closeMinute: number;
}

const resolvedCache = new WeakMap<RiskLimits, Map<string, ResolvedLimits>>();

/**
 * The limits that apply to an instrument, cached per limits object: treat a `RiskLimits` as
 * immutable and replace it whole when the limits change.
 */
export function limitsFor(limits: RiskLimits, instrument: Instrument): ResolvedLimits {
  let bySymbol = resolvedCache.get(limits);
  if (!bySymbol) {
    bySymbol = new Map();
    resolvedCache.set(limits, bySymbol);
  }
  let resolved = bySymbol.get(instrument.symbol);
  if (!resolved) {
    const merged = { ...limits[instrument.kind], ...limits.perSymbol[instrument.symbol] };
    resolved = {
      ...merged,
      openMinute: minutesOf(merged.tradingOpen),
      closeMinute: minutesOf(merged.tradingClose),
    };
    bySymbol.set(instrument.symbol, resolved);
  }
  return resolved;
}

const signed = (side: OrderSide, qty: number): number => (side === 'BUY' ? qty : -qty);
const cents = (brl: number): number => Math.round(brl * 100);

/**
 * True when the order, together with the open orders on its side, only shrinks the position and
 * never flips it: the only orders REDUCING (and a breached daily loss) lets through.
 */
export function reducesPosition(
  position: number,
  side: OrderSide,
  qty: number,
  sameSideOpenQty: number,
): boolean {
  const reducible = side === 'SELL' ? position : -position;
  return reducible > 0 && qty + sameSideOpenQty <= reducible;
}

export const checkLimitsValid = riskCheck('RISK_LIMITS_INVALID', ({ limitsProblem }) =>
  limitsProblem
    ? {
        message: `Risk limits are invalid, trading refused: ${limitsProblem}`,
        details: { problem: limitsProblem },
      }
    : null,
);

export const checkKillSwitch = riskCheck('RISK_KILL_SWITCH', ({ killSwitch }) =>
  killSwitch.active
    ? {
        message: `Kill switch active${killSwitch.reason ? `: ${killSwitch.reason}` : ''}`,
        details: { reason: killSwitch.reason ?? null },
      }
    : null,
);

export const checkTradingHalted = riskCheck('RISK_TRADING_HALTED', ({ tradingState }) =>
  tradingState === 'HALTED' ? { message: 'Trading is HALTED', details: { tradingState } } : null,
);

export const checkBrokerReady = riskCheck('RISK_BROKER_NOT_READY', ({ brokerReady }) =>
  brokerReady ? null : { message: 'Broker not ready (not connected or reconciling)', details: {} },
);

export const checkKnownInstrument = riskCheck('RISK_UNKNOWN_INSTRUMENT', ({ instrument, order }) =>
  instrument ? null : { message: `Unknown instrument ${order.symbol}`, details: { symbol: order.symbol } },
);

const WEEKDAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Weekdays only, `tradingOpen` ≤ local time < `tradingClose`. Exchange holidays are not known here. */
export const checkTradingHours = riskCheck(
  'RISK_OUTSIDE_TRADING_HOURS',
  ({ instrument, limits, now, timeZone }) => {
    if (!instrument || !limits.enforceTradingHours) return null;
    const l = limitsFor(limits, instrument);
    const wall = localWallMs(timeZone, now);
    const minute = Math.floor((((wall % DAY_MS) + DAY_MS) % DAY_MS) / 60_000);
    // 1970-01-01 was a Thursday (4).
    const weekday = (((Math.floor(wall / DAY_MS) + 4) % 7) + 7) % 7;
    const weekend = weekday === 0 || weekday === 6;
    if (!weekend && minute >= l.openMinute && minute < l.closeMinute) return null;
    const localTime = `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
    return {
      message: `${instrument.symbol} trades ${l.tradingOpen}–${l.tradingClose} on weekdays (${timeZone}); now ${WEEKDAY_NAMES[weekday]} ${localTime}`,
      details: {
        localTime,
        weekday: WEEKDAY_NAMES[weekday],
        open: l.tradingOpen,
        close: l.tradingClose,
        timeZone,
      },
    };
  },
);

export const checkReduceOnly = riskCheck(
  'RISK_REDUCE_ONLY',
  ({ tradingState, order, position, openOrders }) => {
    if (tradingState !== 'REDUCING') return null;
    if (reducesPosition(position, order.side, order.quantity, openOrders.sameSideQty)) return null;
    return {
      message: 'Trading is REDUCING: only orders that reduce the position without flipping it',
      details: {
        position,
        side: order.side,
        quantity: order.quantity,
        sameSideOpenQty: openOrders.sameSideQty,
      },
    };
  },
);

/** Prices positive and on the instrument's tick grid. */
export const checkTickSize = riskCheck('RISK_TICK_SIZE', ({ instrument, order }) => {
  if (!instrument) return null;
  const field = offTick(order.price, instrument.tickSize)
    ? 'price'
    : offTick(order.stopPrice, instrument.tickSize)
      ? 'stopPrice'
      : null;
  if (!field) return null;
  return {
    message: `${field} ${order[field]} is not a positive multiple of the tick size ${instrument.tickSize}`,
    details: { field, value: order[field], tickSize: instrument.tickSize },
  };
});

const offTick = (price: number | undefined, tickSize: number): boolean =>
  price !== undefined && !(price > 0 && isOnTick(price, tickSize));

/** Quantity a positive whole multiple of the lot size (100 shares for equities, 1 for futures). */
export const checkLotSize = riskCheck('RISK_LOT_SIZE', ({ instrument, order }) => {
  if (!instrument) return null;
  const lots = order.quantity / instrument.lotSize;
  if (order.quantity > 0 && Number.isInteger(lots)) return null;
  return {
    message: `Quantity ${order.quantity} is not a multiple of the lot size ${instrument.lotSize}`,
    details: { quantity: order.quantity, lotSize: instrument.lotSize },
  };
});

export const checkMaxOrderQty = riskCheck('RISK_MAX_ORDER_QTY', ({ instrument, limits, order }) => {
  if (!instrument) return null;
  const { maxOrderQty } = limitsFor(limits, instrument);
  if (order.quantity <= maxOrderQty) return null;
  return {
    message: `Quantity ${order.quantity} exceeds the maximum of ${maxOrderQty} per order`,
    details: { quantity: order.quantity, maxOrderQty },
  };
});

/** The price an order's value is measured at: its limit, its stop, or the market for MARKET. */
export function notionalPrice(ctx: Pick<RiskContext, 'order' | 'lastPrice'>, instrument: Instrument): number {
  const { order } = ctx;
  if (order.type === 'STOP') return order.stopPrice ?? ctx.lastPrice ?? instrument.referencePrice;
  return order.price ?? ctx.lastPrice ?? instrument.referencePrice;
}

/** Quantity × price × pointValue in BRL, compared in whole cents so the boundary is exact. */
export const checkMaxNotional = riskCheck('RISK_MAX_NOTIONAL', (ctx) => {
  const { instrument, limits, order } = ctx;
  if (!instrument) return null;
  const { maxNotional } = limitsFor(limits, instrument);
  const notionalCents = cents(order.quantity * notionalPrice(ctx, instrument) * instrument.pointValue);
  if (notionalCents <= cents(maxNotional)) return null;
  const notional = notionalCents / 100;
  return {
    message: `Notional R$${notional} exceeds the maximum of R$${maxNotional}`,
    details: { notional, maxNotional },
  };
});

/**
 * Fat finger: a LIMIT price more than `priceBandPct` away from the last trade, measured in whole
 * ticks so the boundary is exact. Stop orders rest away from the market by design and are not
 * banded; with no last trade there is nothing to compare with.
 */
export const checkPriceBand = riskCheck('RISK_PRICE_BAND', ({ instrument, limits, order, lastPrice }) => {
  if (!instrument || order.type !== 'LIMIT' || order.price === undefined || !(lastPrice && lastPrice > 0))
    return null;
  const { priceBandPct } = limitsFor(limits, instrument);
  const { tickSize } = instrument;
  const distanceTicks = Math.round(Math.abs(order.price - lastPrice) / tickSize);
  // The epsilon keeps 511.9999999 from flooring to 511 when the band is exactly 512 ticks.
  const allowedTicks = Math.floor((lastPrice * priceBandPct) / 100 / tickSize + 1e-9);
  if (distanceTicks <= allowedTicks) return null;
  return {
    message: `Price ${order.price} is more than ${priceBandPct}% (${allowedTicks} ticks) from the last trade ${lastPrice}`,
    details: { price: order.price, lastPrice, priceBandPct, distanceTicks, allowedTicks },
  };
});

/**
 * Worst case if this order and the open ones on its side all fill: |projected| ≤ maxPosition.
 * An order that leaves the position smaller than now passes even above the limit, so a lowered
 * limit never traps a position.
 */
export const checkMaxPosition = riskCheck(
  'RISK_MAX_POSITION',
  ({ instrument, limits, order, position, openOrders }) => {
    if (!instrument) return null;
    const { maxPosition } = limitsFor(limits, instrument);
    const projected = position + signed(order.side, order.quantity + openOrders.sameSideQty);
    if (Math.abs(projected) <= maxPosition || Math.abs(projected) < Math.abs(position)) return null;
    return {
      message: `Position would reach ${projected}, beyond the maximum of ±${maxPosition}`,
      details: { position, projected, sameSideOpenQty: openOrders.sameSideQty, maxPosition },
    };
  },
);

/**
 * The next trading state for a P&L: REDUCING at −dailyLossLimit, HALTED at −dailyLossLimit ×
 * haltLossMultiplier. It only tightens (ACTIVE → REDUCING → HALTED): a recovering P&L never loosens it;
 * an operator does, or the next session (`tradingStateAtSession`).
 */
export function tradingStateAfterPnl(
  current: TradingState,
  dailyPnl: RiskContext['dailyPnl'],
  limits: Pick<RiskLimits, 'dailyLossLimit' | 'haltLossMultiplier'>,
): TradingState {
  if (current === 'HALTED') return current;
  const lossCents = -cents(dailyPnl.realised + dailyPnl.unrealised);
  if (lossCents >= cents(limits.dailyLossLimit * limits.haltLossMultiplier)) return 'HALTED';
  if (lossCents >= cents(limits.dailyLossLimit)) return 'REDUCING';
  return current;
}

/**
 * Who put trading in its state: a person (the risk API), the daily-loss limit, or the start of a
 * new session lifting what the daily-loss limit set. The kill switch is not a trading state.
 */
export type TradingStateCause = 'operator' | 'daily-loss' | 'new-session';

/** The trading state with what the new-session rule needs to know about where it came from. */
export interface TradingStateOrigin {
  tradingState: TradingState;
  /** The state a person last set (ACTIVE before any): where a new session returns to. */
  chosenTradingState: TradingState;
  /** The session (local date, `sessionKeyAt`) whose daily loss set the state; null when it did not. */
  lossLimitSession: string | null;
}

/** The origin after trading moves to `state` for `cause`, during `session`. */
export function withTradingState(
  current: TradingStateOrigin,
  state: TradingState,
  cause: TradingStateCause,
  session: string,
): TradingStateOrigin {
  const { chosenTradingState } = current;
  switch (cause) {
    case 'daily-loss':
      return { tradingState: state, chosenTradingState, lossLimitSession: session };
    case 'new-session':
      return { tradingState: state, chosenTradingState, lossLimitSession: null };
    case 'operator':
      return { tradingState: state, chosenTradingState: state, lossLimitSession: null };
  }
}

/**
 * Where trading goes when `session` has started: a REDUCING or HALTED the daily-loss limit set
 * belongs to the session whose P&L breached it, so from the next session (local midnight, where the
 * daily P&L starts over) trading is back in the state a person last chose, ACTIVE unless they chose
 * otherwise. What a person set is never lifted by the clock. null: nothing to change.
 */
export function tradingStateAtSession(origin: TradingStateOrigin, session: string): TradingState | null {
  const { lossLimitSession } = origin;
  return lossLimitSession !== null && lossLimitSession < session ? origin.chosenTradingState : null;
}

/**
 * Realised + unrealised at or below −dailyLossLimit rejects every order that does not reduce the
 * position; `details.tradingState` says where trading should move (REDUCING or HALTED).
 */
export const checkDailyLoss = riskCheck(
  'RISK_DAILY_LOSS',
  ({ dailyPnl, limits, tradingState, order, position, openOrders }) => {
    const pnlCents = cents(dailyPnl.realised + dailyPnl.unrealised);
    if (pnlCents > -cents(limits.dailyLossLimit)) return null;
    if (reducesPosition(position, order.side, order.quantity, openOrders.sameSideQty)) return null;
    const pnl = pnlCents / 100;
    return {
      message: `Daily P&L R$${pnl} reached the loss limit of R$${limits.dailyLossLimit}`,
      details: {
        dailyPnl: pnl,
        dailyLossLimit: limits.dailyLossLimit,
        tradingState: tradingStateAfterPnl(tradingState, dailyPnl, limits),
      },
    };
  },
);

/** At most maxOrdersPerWindow orders per account in any orderRateWindowMs. */
export const checkOrderRate = riskCheck('RISK_ORDER_RATE', ({ recentOrders, limits, now }) => {
  const since = now - limits.orderRateWindowMs;
  // Oldest first: binary search for the first one inside the window.
  let lo = 0;
  let hi = recentOrders.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((recentOrders[mid] ?? 0) <= since) lo = mid + 1;
    else hi = mid;
  }
  const count = recentOrders.length - lo;
  if (count < limits.maxOrdersPerWindow) return null;
  return {
    message: `${count} orders in the last ${limits.orderRateWindowMs} ms; the limit is ${limits.maxOrdersPerWindow}`,
    details: { count, maxOrdersPerWindow: limits.maxOrdersPerWindow, windowMs: limits.orderRateWindowMs },
  };
});

export const checkMaxOpenOrders = riskCheck('RISK_MAX_OPEN_ORDERS', ({ openOrders, limits }) =>
  openOrders.count < limits.maxOpenOrders
    ? null
    : {
        message: `${openOrders.count} open orders; the limit is ${limits.maxOpenOrders}`,
        details: { openOrders: openOrders.count, maxOpenOrders: limits.maxOpenOrders },
      },
);

/**
 * The same account/symbol/side/type/quantity/prices within duplicateWindowMs: a double click or a
 * looping strategy. A resend with the same clientOrderId is a retry, which the service answers
 * idempotently, not a duplicate.
 */
export const checkDuplicateOrder = riskCheck(
  'RISK_DUPLICATE_ORDER',
  ({ order, recentFingerprints, limits, now }) => {
    // Oldest first: look back from the newest until the window ends.
    for (let i = recentFingerprints.length - 1; i >= 0; i--) {
      const fp = recentFingerprints[i] as OrderFingerprint;
      if (now - fp.ts >= limits.duplicateWindowMs) break;
      if (order.clientOrderId !== undefined && fp.clientOrderId === order.clientOrderId) continue;
      if (!sameOrder(fp, order)) continue;
      return {
        message: `Same order as ${fp.clientOrderId ?? 'one'} sent ${now - fp.ts} ms ago`,
        details: {
          previousClientOrderId: fp.clientOrderId ?? null,
          ageMs: now - fp.ts,
          windowMs: limits.duplicateWindowMs,
        },
      };
    }
    return null;
  },
);

const sameOrder = (fp: OrderFingerprint, o: RiskOrder): boolean =>
  fp.symbol === o.symbol &&
  fp.side === o.side &&
  fp.quantity === o.quantity &&
  fp.type === o.type &&
  fp.price === o.price &&
  fp.stopPrice === o.stopPrice &&
  fp.account === o.account;

/** The fingerprint to remember for an order that passed, for later duplicate checks. */
export function orderFingerprint(order: RiskOrder, ts: number): OrderFingerprint {
  const { account, symbol, side, type, quantity, price, stopPrice, clientOrderId } = order;
  return { ts, account, symbol, side, type, quantity, price, stopPrice, clientOrderId };
}

/** Orders from a signal need at least minSignalConfidence; manual orders carry none and pass. */
export const checkSignalConfidence = riskCheck('RISK_SIGNAL_CONFIDENCE', ({ order, limits }) => {
  const confidence = order.signalConfidence;
  if (confidence === undefined || confidence >= limits.minSignalConfidence) return null;
  return {
    message: `Signal confidence ${confidence} is below the minimum of ${limits.minSignalConfidence}`,
    details: { signalConfidence: confidence, minSignalConfidence: limits.minSignalConfidence },
  };
});

/** Every check, in the order they run: the cheap, decisive ones first. */
export const RISK_CHECKS: readonly RiskCheck[] = [
  checkLimitsValid,
  checkKillSwitch,
  checkTradingHalted,
  checkBrokerReady,
  checkKnownInstrument,
  checkTradingHours,
  checkReduceOnly,
  checkTickSize,
  checkLotSize,
  checkMaxOrderQty,
  checkMaxNotional,
  checkPriceBand,
  checkMaxPosition,
  checkDailyLoss,
  checkOrderRate,
  checkMaxOpenOrders,
  checkDuplicateOrder,
  checkSignalConfidence,
];

/** Every risk rejection code once, from the checks (metrics start each at 0). */
export const RISK_CODES: readonly RiskCode[] = RISK_CHECKS.map((check) => check.code);

/** The first failing check, or null when the order may go. */
export function evaluateRisk(ctx: RiskContext): RiskRejection | null {
  for (const check of RISK_CHECKS) {
    const rejection = check(ctx);
    if (rejection) return rejection;
  }
  return null;
}

/** Every failing check, for diagnostics (a dry-run endpoint, logs). */
export function evaluateAll(ctx: RiskContext): RiskRejection[] {
  const rejections: RiskRejection[] = [];
  for (const check of RISK_CHECKS) {
    const rejection = check(ctx);
    if (rejection) rejections.push(rejection);
  }
  return rejections;
}
