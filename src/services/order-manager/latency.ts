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
