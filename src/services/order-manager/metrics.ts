import type { PositionSnapshot } from '../../domain/positions.js';
import { MISMATCH_KINDS } from '../../domain/reconciliation.js';
import { RISK_CODES, TRADING_STATES, type TradingState } from '../../domain/risk.js';
import { CODE } from '../../kernel/errors.js';
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../kernel/metrics.js';

/** The order path's target is a p99 under 5 ms: buckets fine enough to tell 4 from 4.5 from 5 ms. */
const ORDER_PATH_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.0035, 0.004, 0.0045,
  0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export type OrderManagerMetrics = ReturnType<typeof createOrderManagerMetrics>;

/** order-manager's metrics, `tradingsystem_order_manager_*`; gauges read the state at scrape time. */
export function createOrderManagerMetrics(
  registry: Registry,
  read: {
    openOrders(): number;
    killSwitch(): boolean;
    reconciling(): boolean;
    tradingState(): TradingState;
    /** Today's positions as the API shows them (marked to the last trade). */
    positions(): PositionSnapshot[];
  },
) {
  const registers = [registry];
  new Gauge({
    name: 'tradingsystem_order_manager_trading_state',
    help: 'Trading state of the risk engine (ACTIVE, REDUCING, HALTED): 1 for the current one, 0 for the others',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const current = read.tradingState();
      for (const state of TRADING_STATES) this.set({ state }, state === current ? 1 : 0);
    },
  });
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
  new Gauge({
    name: 'tradingsystem_order_manager_reconciling',
    help: '1 while a reconciliation with the broker runs (new orders get RISK_BROKER_NOT_READY)',
    registers,
    collect() {
      this.set(read.reconciling() ? 1 : 0);
    },
  });
  // Positions and P&L for the Order Execution dashboard, read at scrape time like GET /api/positions.
  // Reset first: a position gone from the state (a new session) must not keep its last value.
  new Gauge({
    name: 'tradingsystem_order_manager_position_quantity',
    help: "Net position in contracts or shares (long positive, short negative), today's session",
    labelNames: ['account', 'symbol'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of read.positions()) this.set({ account: p.account, symbol: p.symbol }, p.quantity);
    },
  });
  new Gauge({
    name: 'tradingsystem_order_manager_pnl_brl',
    help: "Today's P&L in BRL by position: realised, and unrealised marked to the last trade (0 without one)",
    labelNames: ['account', 'symbol', 'kind'] as const,
    registers,
    collect() {
      this.reset();
      for (const p of read.positions()) {
        this.set({ account: p.account, symbol: p.symbol, kind: 'realised' }, p.realisedPnl);
        this.set({ account: p.account, symbol: p.symbol, kind: 'unrealised' }, p.unrealisedPnl);
      }
    },
  });
  const reconcileMismatches = new Counter({
    name: 'tradingsystem_order_manager_reconcile_mismatches_total',
    help: 'Disagreements between the journal and the broker found by reconciliation, by kind',
    labelNames: ['kind'] as const,
    registers,
  });
  // Every kind from 0: an alert on increase() misses the first mismatch of a series born at 1.
  for (const kind of MISMATCH_KINDS) reconcileMismatches.inc({ kind }, 0);
  const rejected = new Counter({
    name: 'tradingsystem_order_manager_orders_rejected_total',
    help: 'Orders refused, by code (RISK_* by the risk engine, BROKER_REJECTED by the broker)',
    labelNames: ['code'] as const,
    registers,
  });
  // Every code from 0 too: increase() over a series born at 1 sees no rejection at all.
  for (const code of [...RISK_CODES, CODE.BROKER_REJECTED]) rejected.inc({ code }, 0);
  return {
    reconcileMismatches,
    rejected,
    submitted: new Counter({
      name: 'tradingsystem_order_manager_orders_submitted_total',
      help: 'Orders that passed risk and were journaled for the broker',
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
      help:
        "Strategy orders: from the triggering trade's capture by data-capture (recvTs, wall clock, ms " +
        "resolution; includes its journal write and the feed hop) to the broker adapter's sendOrder call",
      buckets: ORDER_PATH_BUCKETS,
      registers,
    }),
    signalToOrderSeconds: new Histogram({
      name: 'tradingsystem_order_manager_signal_to_order_seconds',
      help:
        'Strategy orders, in-process part measured with hrtime: from the feed client delivering the ' +
        "triggering trade to the broker adapter's sendOrder call (strategy, risk check, journal fsync)",
      buckets: ORDER_PATH_BUCKETS,
      registers,
    }),
    apiOrderAckSeconds: new Histogram({
      name: 'tradingsystem_order_manager_api_order_ack_seconds',
      help:
        'Orders from the REST API: from the request reaching the order manager to the broker taking the ' +
        'order (its sendOrder answer or its acknowledgement, whichever comes first); refusals are not observed',
      buckets: ORDER_PATH_BUCKETS,
      registers,
    }),
    signals: new Counter({
      name: 'tradingsystem_order_manager_signals_total',
      help: 'Signals received on POST /api/signals, by decision (executed, ignored, rejected)',
      labelNames: ['decision'] as const,
      registers,
    }),
  };
}
