import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../../kernel/metrics.js';
import { STATE_TYPE } from './codes.js';

/** What the DLL's callbacks carry. */
export const CALLBACK_KINDS = [
  'state',
  'trade',
  'history',
  'progress',
  'book',
  'order',
  'account',
  'enumerate',
] as const;
export type CallbackKind = (typeof CALLBACK_KINDS)[number];

export type ProfitDllMetrics = ReturnType<typeof createProfitDllMetrics>;

/** The adapter's metrics, `tradingsystem_profitdll_*`. */
export function createProfitDllMetrics(registry: Registry) {
  const registers = [registry];
  const callbacks = new Counter({
    name: 'tradingsystem_profitdll_callbacks_total',
    help: 'Callbacks from the DLL thread, by kind',
    labelNames: ['kind'] as const,
    registers,
  });
  const errors = new Counter({
    name: 'tradingsystem_profitdll_callback_errors_total',
    help: 'Callbacks whose handling threw (caught: nothing is thrown back into the DLL), by kind',
    labelNames: ['kind'] as const,
    registers,
  });
  const state = new Gauge({
    name: 'tradingsystem_profitdll_state',
    help: "The DLL's latest state value per state type (login, routing, market, activation); -1 before the first",
    labelNames: ['type'] as const,
    registers,
  });
  for (const kind of CALLBACK_KINDS) {
    callbacks.inc({ kind }, 0);
    errors.inc({ kind }, 0);
  }
  for (const type of Object.keys(STATE_TYPE)) state.set({ type }, -1);
  return {
    callbacks,
    errors,
    state,
    callbackSeconds: new Histogram({
      name: 'tradingsystem_profitdll_callback_seconds',
      help: "Time spent on Node's thread per callback while the DLL thread waits (decode and enqueue)",
      labelNames: ['kind'] as const,
      buckets: [0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025],
      registers,
    }),
    transitions: new Counter({
      name: 'tradingsystem_profitdll_state_changes_total',
      help: 'State callbacks from the DLL, by type and state name',
      labelNames: ['type', 'state'] as const,
      registers,
    }),
    deliveryLag: new Histogram({
      name: 'tradingsystem_profitdll_delivery_lag_seconds',
      help: 'From a callback to its handling, after the DLL thread was let go',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    tradeLag: new Histogram({
      name: 'tradingsystem_profitdll_trade_lag_seconds',
      help: "A live trade's exchange time to its arrival, per subscription",
      labelNames: ['ticker'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
  };
}
