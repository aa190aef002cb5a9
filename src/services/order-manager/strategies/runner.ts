import type { Instrument } from '../../../domain/instruments.js';
import type { CapturedTrade } from '../../../domain/market-data.js';
import type { Order } from '../../../domain/orders.js';
import { positionKey } from '../../../domain/positions.js';
import type { Clock } from '../../../kernel/clock.js';
import type { Logger } from '../../../kernel/logger.js';
import type { OrderEngine } from '../engine.js';
import type { OrderTrigger } from '../latency.js';
import type { SubmitResult } from '../results.js';
import type { Strategy, StrategyContext, StrategyOrder } from './strategy.js';

/** Older trades (a feed resume replaying what was missed) are old news: strategies never see them. */
export const STALE_TRADE_MS = 2_000;

export interface RunnerDeps {
  engine: OrderEngine;
  strategies: readonly Strategy[];
  account: string;
  instruments: ReadonlyMap<string, Instrument>;
  clock: Clock;
  logger: Logger;
  lastPrice(symbol: string): number | undefined;
}

/**
 * Feeds live trades and order changes to the enabled strategies and turns their requests into
 * orders through the engine's submit (same risk engine, `strategyId` set, actor `strategy:<id>`).
 * A throwing strategy is logged; it never stops the feed or the others.
 */
export class StrategyRunner {
  private readonly contexts = new Map<string, StrategyContext>();
  /** The trade being dispatched, so a submit from inside onTrade gets its feed delivery time. */
  private delivering: Required<OrderTrigger> | undefined;

  constructor(private readonly d: RunnerDeps) {
    for (const s of d.strategies) this.contexts.set(s.id, this.contextFor(s));
  }

  onTrade(trade: CapturedTrade, deliveredAt: bigint): void {
    if (trade.backfilled || this.d.clock.now() - trade.recvTs > STALE_TRADE_MS) return;
    this.delivering = { recvTs: trade.recvTs, deliveredAt };
    try {
      for (const s of this.d.strategies) this.guard(s, () => s.onTrade(trade, this.ctx(s)));
    } finally {
      this.delivering = undefined;
    }
  }

  onOrderChange(order: Order): void {
    const s = order.strategyId ? this.d.strategies.find((x) => x.id === order.strategyId) : undefined;
    const onUpdate = s?.onOrderUpdate;
    if (!s || !onUpdate) return;
    // Deferred: this runs inside the engine's record, where a new submit would nest.
    queueMicrotask(() => this.guard(s, () => onUpdate.call(s, order, this.ctx(s))));
  }

  private ctx(s: Strategy): StrategyContext {
    const ctx = this.contexts.get(s.id);
    if (!ctx) throw new Error(`no context for strategy ${s.id}`);
    return ctx;
  }

  private contextFor(s: Strategy): StrategyContext {
    const { engine, account, instruments, clock } = this.d;
    return {
      submit: (order, meta) => this.submit(s, order, meta.triggerRecvTs),
      position: (symbol) => engine.state.positions.get(positionKey(account, symbol))?.quantity ?? 0,
      lastPrice: (symbol) => this.d.lastPrice(symbol),
      lotSize: (symbol) => instruments.get(symbol)?.lotSize ?? 1,
      now: () => clock.now(),
    };
  }

  private submit(s: Strategy, order: StrategyOrder, triggerRecvTs: number): void {
    const log = { strategyId: s.id, symbol: order.symbol, side: order.side, quantity: order.quantity };
    // Strategies skip the HTTP schema: the engine's shape and risk checks assume a sane quantity.
    if (!Number.isSafeInteger(order.quantity) || order.quantity < 1) {
      this.d.logger.warn({ event: 'strategy.bad_order', ...log }, 'strategy asked for a bad quantity');
      return;
    }
    const d = this.delivering;
    const trigger: OrderTrigger = d?.recvTs === triggerRecvTs ? d : { recvTs: triggerRecvTs };
    let r: SubmitResult;
    try {
      r = this.d.engine.submit({ ...order, strategyId: s.id }, `strategy:${s.id}`, { trigger });
    } catch (err) {
      this.d.logger.warn(
        { event: 'strategy.submit_failed', err: (err as Error).message, ...log },
        'strategy order failed',
      );
      return;
    }
    if (r.kind === 'denied') {
      this.d.logger.info(
        { event: 'strategy.order_rejected', code: r.rejection.code, ...log },
        r.rejection.message,
      );
    } else if (r.kind === 'invalid') {
      this.d.logger.warn(
        { event: 'strategy.submit_failed', err: r.error.message, ...log },
        'strategy order failed',
      );
    }
  }

  private guard(s: Strategy, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.d.logger.error(
        { event: 'strategy.error', strategyId: s.id, err: (err as Error).message },
        'strategy callback threw',
      );
    }
  }
}
