import type { Instrument } from '../../domain/instruments.js';
import type { EventData, EventType, JournalEvent } from '../../domain/order-events.js';
import {
  applyOrderEvent,
  type Fill,
  isOpen,
  type Order,
  type OrderError,
  type OrderEvent,
} from '../../domain/orders.js';
import {
  applyFill,
  flatPosition,
  type Position,
  positionKey,
  sessionKeyAt,
  startSession,
} from '../../domain/positions.js';
import {
  DEFAULT_RISK_LIMITS,
  invalidRiskLimits,
  type OrderFingerprint,
  orderFingerprint,
  type RiskLimits,
  type TradingState,
  type TradingStateCause,
  withTradingState,
} from '../../domain/risk.js';
import { addSignal, decideSignal, type SignalBook } from '../../domain/signals.js';

/** The in-memory state: nothing but a fold of the journal. */
export interface OrderState {
  orders: Map<string, Order>;
  byClientId: Map<string, string>;
  /** Orders not in a terminal status (UNKNOWN included). */
  open: Map<string, Order>;
  /**
   * Closed orders still in memory, oldest first, each with the seq of the event that closed it:
   * `forgetClosed` drops the oldest (the journal keeps them; the engine reads one back on demand).
   */
  closed: Map<string, number>;
  /** Net filled quantity by account, then symbol: every fill of every order, forgotten ones too. */
  filledNet: Map<string, Map<string, number>>;
  /** `open` summed per account, kept with it: the risk check must not scan every resting order. */
  openTally: Map<string, OpenTally>;
  positions: Map<string, Position>;
  limits: RiskLimits;
  /** Why the last journaled limits cannot be traded on (they are not applied), or null. */
  limitsProblem: string | null;
  tradingState: TradingState;
  tradingStateReason: string;
  /** The state a person last set: where a new session returns a daily-loss state to. */
  chosenTradingState: TradingState;
  /** The session whose daily loss set `tradingState`, or null (`tradingStateAtSession`). */
  lossLimitSession: string | null;
  killSwitch: { active: boolean; reason?: string; cancelAll?: boolean };
  /** When recent orders passed risk, for the rate check; pruned as events arrive. */
  recentOrders: number[];
  recentFingerprints: OrderFingerprint[];
  /** The newest signals, oldest first. */
  signals: SignalBook;
}

export interface OpenTally {
  count: number;
  /** Leaves quantity by `symbol side`. */
  leaves: Map<string, number>;
}

export const leavesKey = (symbol: string, side: string) => `${symbol} ${side}`;

/** What one event changed, so the live path can react (metrics, trading state, logs). */
export interface Projected {
  order?: Order;
  previous?: Order;
  error?: OrderError;
  /** Fills new to the order (never a duplicate trade id) and applied to its position. */
  newFills: Fill[];
}

/** Config seeds the limits of a fresh journal; a journaled `risk.limits` change wins. */
export function emptyState(enforceTradingHours: boolean, minSignalConfidence?: number): OrderState {
  return {
    orders: new Map(),
    byClientId: new Map(),
    open: new Map(),
    closed: new Map(),
    filledNet: new Map(),
    openTally: new Map(),
    positions: new Map(),
    limits: {
      ...DEFAULT_RISK_LIMITS,
      enforceTradingHours,
      minSignalConfidence: minSignalConfidence ?? DEFAULT_RISK_LIMITS.minSignalConfidence,
    },
    limitsProblem: null,
    tradingState: 'ACTIVE',
    tradingStateReason: 'start',
    chosenTradingState: 'ACTIVE',
    lossLimitSession: null,
    killSwitch: { active: false },
    recentOrders: [],
    recentFingerprints: [],
    signals: new Map(),
  };
}

/**
 * Folds one journal event into the state. The same function serves replay at start and live
 * events, so a rebuilt state is the state that was acknowledged.
 */
export function project(
  state: OrderState,
  e: JournalEvent,
  instruments: ReadonlyMap<string, Instrument>,
  timeZone: string,
): Projected {
  switch (e.type as EventType) {
    case 'order.submitted':
      return submitted(state, (e.data as EventData['order.submitted']).order, e.ts);
    case 'order.sent':
      return sent(state, e, (e.data as EventData['order.sent']).brokerOrderId);
    case 'order.event':
      return orderEvent(state, e, (e.data as EventData['order.event']).event, instruments, timeZone);
    case 'risk.limits': {
      // A journal edited by hand (or written before finite numbers were enforced) may hold limits
      // that would switch checks off: never trade on them; the next valid change clears this.
      const limits = (e.data as EventData['risk.limits'] | null)?.limits;
      const problem = invalidRiskLimits(limits);
      state.limitsProblem = problem && `journal event ${e.seq} (risk.limits): ${problem}`;
      if (!problem) state.limits = limits as RiskLimits;
      return NOTHING;
    }
    case 'risk.state': {
      const d = e.data as EventData['risk.state'];
      const session = sessionKeyAt(e.ts, timeZone);
      Object.assign(state, withTradingState(state, d.state, d.cause ?? causeOf(d.reason), session));
      state.tradingStateReason = d.reason;
      return NOTHING;
    }
    case 'risk.kill_switch': {
      const d = e.data as EventData['risk.kill_switch'];
      state.killSwitch = d.active
        ? { active: true, reason: d.reason, ...(d.cancelAll && { cancelAll: true }) }
        : { active: false };
      return NOTHING;
    }
    case 'signal.received':
      addSignal(state.signals, (e.data as EventData['signal.received']).signal);
      return NOTHING;
    case 'signal.decided':
      decideSignal(state.signals, e.data as EventData['signal.decided']);
      return NOTHING;
    default:
      return NOTHING;
  }
}

const NOTHING: Projected = { newFills: [] };

/** What journals written before `cause` existed said when the daily-loss limit moved trading. */
const DAILY_LOSS_REASON = /^daily P&L R\$\S+ reached the loss limit$/;
const causeOf = (reason: string): TradingStateCause =>
  DAILY_LOSS_REASON.test(reason) ? 'daily-loss' : 'operator';

function submitted(state: OrderState, order: Order, ts: number): Projected {
  state.orders.set(order.id, order);
  state.byClientId.set(order.clientOrderId, order.id);
  setOpen(state, order);
  const keepAfter = ts - Math.max(state.limits.orderRateWindowMs, state.limits.duplicateWindowMs);
  dropOlder(state.recentOrders, (t) => t <= keepAfter);
  state.recentOrders.push(ts);
  dropOlder(state.recentFingerprints, (f) => f.ts <= keepAfter);
  state.recentFingerprints.push(orderFingerprint(order, ts));
  return { order, newFills: [] };
}

/** Removes the leading entries that are too old (the lists are oldest first), in place. */
function dropOlder<T>(list: T[], tooOld: (item: T) => boolean): void {
  let n = 0;
  while (n < list.length && tooOld(list[n] as T)) n++;
  if (n > 0) list.splice(0, n);
}

/**
 * An event for an order not in memory changes nothing: it was never submitted, or it is closed and
 * forgotten, and a closed order takes no more transitions (`OrderEngine.apply` reads one back from
 * the journal first, so its refusal is logged as before).
 */
function sent(state: OrderState, e: JournalEvent, brokerOrderId: string): Projected {
  const previous = e.orderId === null ? undefined : state.orders.get(e.orderId);
  if (!previous) return NOTHING;
  // The broker's id is known as soon as it takes the order, before (or without) its ack.
  const order = previous.brokerOrderId ? previous : { ...previous, brokerOrderId };
  store(state, order, e.seq);
  return { order, previous, newFills: [] };
}

function orderEvent(
  state: OrderState,
  e: JournalEvent,
  event: OrderEvent,
  instruments: ReadonlyMap<string, Instrument>,
  timeZone: string,
): Projected {
  const previous = e.orderId === null ? undefined : state.orders.get(e.orderId);
  if (!previous) return NOTHING;
  const result = applyOrderEvent(previous, event);
  if (!result.ok) return { previous, error: result, newFills: [] };
  if (result.duplicate) return { order: previous, previous, newFills: [] };
  const order = result.order;
  store(state, order, e.seq);
  const newFills = order.fills.slice(previous.fills.length);
  if (newFills.length > 0) addFilledNet(state, order, newFills);
  const instrument = instruments.get(order.symbol);
  if (instrument) for (const f of newFills) addFill(state, order, f, instrument, timeZone);
  return { order, previous, newFills };
}

function addFilledNet(state: OrderState, order: Order, fills: readonly Fill[]): void {
  let bySymbol = state.filledNet.get(order.account);
  if (!bySymbol) {
    bySymbol = new Map();
    state.filledNet.set(order.account, bySymbol);
  }
  const qty = fills.reduce((sum, f) => sum + f.qty, 0);
  bySymbol.set(order.symbol, (bySymbol.get(order.symbol) ?? 0) + (order.side === 'BUY' ? qty : -qty));
}

function store(state: OrderState, order: Order, seq: number): void {
  state.orders.set(order.id, order);
  if (isOpen(order.status)) {
    setOpen(state, order);
    return;
  }
  closeOpen(state, order.id);
  state.closed.delete(order.id); // re-added last: the newest closed
  state.closed.set(order.id, seq);
}

/**
 * Drops the oldest closed orders from memory until `keep` remain, so memory does not grow with
 * every order ever placed. Only orders closed by a committed event (at most `committedSeq`) go:
 * the journal can read those back.
 */
export function forgetClosed(state: OrderState, keep: number, committedSeq: number): void {
  for (const [id, seq] of state.closed) {
    if (state.closed.size <= keep || seq > committedSeq) return;
    state.closed.delete(id);
    const order = state.orders.get(id);
    state.orders.delete(id);
    if (order && state.byClientId.get(order.clientOrderId) === id)
      state.byClientId.delete(order.clientOrderId);
  }
}

/** A closed order read back from the journal, in memory again as the newest closed one. */
export function recallClosed(state: OrderState, order: Order, committedSeq: number): void {
  state.orders.set(order.id, order);
  state.byClientId.set(order.clientOrderId, order.id);
  state.closed.set(order.id, committedSeq);
}

function setOpen(state: OrderState, order: Order): void {
  closeOpen(state, order.id);
  state.open.set(order.id, order);
  tally(state, order, 1);
}

function closeOpen(state: OrderState, id: string): void {
  const previous = state.open.get(id);
  if (!previous) return;
  state.open.delete(id);
  tally(state, previous, -1);
}

function tally(state: OrderState, order: Order, sign: 1 | -1): void {
  let t = state.openTally.get(order.account);
  if (!t) {
    t = { count: 0, leaves: new Map() };
    state.openTally.set(order.account, t);
  }
  t.count += sign;
  const key = leavesKey(order.symbol, order.side);
  t.leaves.set(key, (t.leaves.get(key) ?? 0) + sign * order.leavesQty);
}

function addFill(state: OrderState, order: Order, fill: Fill, instrument: Instrument, timeZone: string) {
  const key = positionKey(order.account, order.symbol);
  const session = sessionKeyAt(fill.ts, timeZone);
  const current = state.positions.get(key) ?? flatPosition(order.account, instrument, session);
  const outcome = applyFill(startSession(current, session), { ...fill, side: order.side });
  state.positions.set(key, outcome.position);
}
