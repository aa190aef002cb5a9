import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../kernel/metrics.js';

export type OrderManagerMetrics = ReturnType<typeof createOrderManagerMetrics>;

/** order-manager's metrics, `tradingsystem_order_manager_*`; gauges read the state at scrape time. */
export function createOrderManagerMetrics(
  registry: Registry,
  read: { openOrders(): number; killSwitch(): boolean },
) {
  const registers = [registry];
  new Gauge({
    name: 'tradingsystem_order_manager_open_orders',
    help: 'Orders not in a final status (UNKNOWN included)',
    registers,
    collect() {
      this.set(read.openOrders());
    },
  });
  new Gauge({
    name: 'tradingsystem_order_manager_kill_switch',
    help: '1 while the kill switch blocks new orders',
    registers,
    collect() {
      this.set(read.killSwitch() ? 1 : 0);
    },
  });
  return {
    submitted: new Counter({
      name: 'tradingsystem_order_manager_orders_submitted_total',
      help: 'Orders that passed risk and were journaled for the broker',
      registers,
    }),
    rejected: new Counter({
      name: 'tradingsystem_order_manager_orders_rejected_total',
      help: 'Orders refused, by code (RISK_* by the risk engine, BROKER_REJECTED by the broker)',
      labelNames: ['code'] as const,
      registers,
    }),
    filled: new Counter({
      name: 'tradingsystem_order_manager_orders_filled_total',
      help: 'Orders completely filled',
      registers,
    }),
    riskCheckSeconds: new Histogram({
      name: 'tradingsystem_order_manager_risk_check_seconds',
      help: 'Time of one pre-trade risk evaluation',
      buckets: [0.000005, 0.00001, 0.00002, 0.00005, ...LATENCY_BUCKETS],
      registers,
    }),
    tickToOrderSeconds: new Histogram({
      name: 'tradingsystem_order_manager_tick_to_order_seconds',
      help: "From a trade's capture time to the order it caused reaching the broker adapter",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  };
}
