import type { Instrument } from '../../domain/instruments.js';
import type { Order } from '../../domain/orders.js';
import { dailyPnl, type Position, positionKey, sessionKeyAt, startSession } from '../../domain/positions.js';
import type { RiskContext, RiskOrder } from '../../domain/risk.js';
import { leavesKey, type OrderState } from './projection.js';

export interface RiskInputs {
  state: OrderState;
  instruments: ReadonlyMap<string, Instrument>;
  brokerReady: boolean;
  now: number;
  timeZone: string;
  lastPrice(symbol: string): number | undefined;
}

/** The account's positions with today's session applied (yesterday's realised P&L does not count). */
export function accountPositions(
  state: OrderState,
  account: string,
  now: number,
  timeZone: string,
): Position[] {
  const session = sessionKeyAt(now, timeZone);
  const out: Position[] = [];
  for (const p of state.positions.values()) if (p.account === account) out.push(startSession(p, session));
  return out;
}

/**
 * Everything the risk engine needs about one order, read from the projection. `replacing` is the
 * order a modify changes: it does not count against itself as an open order.
 */
export function riskContext(order: RiskOrder, inputs: RiskInputs, replacing?: Order): RiskContext {
  const { state, now, timeZone } = inputs;
  // The projection's running tally of open orders, less the order being replaced.
  const tally = state.openTally.get(order.account);
  let count = tally?.count ?? 0;
  let sameSideQty = tally?.leaves.get(leavesKey(order.symbol, order.side)) ?? 0;
  const self = replacing && state.open.get(replacing.id);
  if (self && self.account === order.account) {
    count--;
    if (self.symbol === order.symbol && self.side === order.side) sameSideQty -= self.leavesQty;
  }
  const lastPrice = inputs.lastPrice(order.symbol);
  return {
    order,
    instrument: inputs.instruments.get(order.symbol),
    limits: state.limits,
    limitsProblem: state.limitsProblem,
    tradingState: state.tradingState,
    killSwitch: state.killSwitch,
    brokerReady: inputs.brokerReady,
    now,
    timeZone,
    ...(lastPrice !== undefined && { lastPrice }),
    position: state.positions.get(positionKey(order.account, order.symbol))?.quantity ?? 0,
    openOrders: { count, sameSideQty },
    // A modify is not a new order: rate and duplicate checks do not apply to it.
    recentOrders: replacing ? [] : state.recentOrders,
    recentFingerprints: replacing ? [] : state.recentFingerprints,
    dailyPnl: dailyPnl(accountPositions(state, order.account, now, timeZone), inputs.lastPrice),
  };
}
