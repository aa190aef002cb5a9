import type { OrderManagerMetrics } from './metrics.js';

/** The trade an order reacts to: when data-capture received it, and when our feed client delivered it. */
export interface OrderTrigger {
  /** data-capture's wall clock at the broker callback, epoch ms. */
  recvTs: number;
  /** process.hrtime.bigint() at feed delivery; absent when the order left the trade's dispatch. */
  deliveredAt?: bigint;
}

/** Called right before the broker adapter's sendOrder. */
export function observeTrigger(metrics: OrderManagerMetrics, now: number, t: OrderTrigger): void {
  // Clamped: on two hosts a clock behind data-capture's would give negative latencies.
  metrics.tickToOrderSeconds.observe(Math.max(0, now - t.recvTs) / 1000);
  if (t.deliveredAt !== undefined) {
    metrics.signalToOrderSeconds.observe(Number(process.hrtime.bigint() - t.deliveredAt) / 1e9);
  }
}

/**
 * A REST order's start, `performance.now()` when its request arrived; observed once, at the first
 * sign the broker has it (its sendOrder answer or its acknowledgement).
 */
export class ApiOrderClock {
  private readonly started = new Map<string, number>();

  constructor(private readonly metrics: OrderManagerMetrics) {}

  start(orderId: string, receivedAt: number): void {
    this.started.set(orderId, receivedAt);
  }

  acked(orderId: string): void {
    const at = this.started.get(orderId);
    if (at === undefined) return;
    this.started.delete(orderId);
    this.metrics.apiOrderAckSeconds.observe(Math.max(0, performance.now() - at) / 1000);
  }

  /** No acknowledgement is coming (refused, timed out): not a latency. */
  forget(orderId: string): void {
    this.started.delete(orderId);
  }
}
