import { describe, expect, it } from 'vitest';
import type { TradingState } from '../../domain/risk.js';
import { Registry } from '../../kernel/metrics.js';
import { createOrderManagerMetrics } from './metrics.js';

const sample = (text: string, series: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${series} `))
      ?.slice(series.length + 1),
  );

describe('order-manager metrics', () => {
  it('exports the trading state, 1 for the current one', async () => {
    const registry = new Registry();
    let state: TradingState = 'ACTIVE';
    createOrderManagerMetrics(registry, {
      openOrders: () => 0,
      killSwitch: () => false,
      reconciling: () => false,
      tradingState: () => state,
    });
    let text = await registry.metrics();
    expect(sample(text, 'tradingsystem_order_manager_trading_state{state="ACTIVE"}')).toBe(1);
    expect(sample(text, 'tradingsystem_order_manager_trading_state{state="HALTED"}')).toBe(0);
    state = 'HALTED';
    text = await registry.metrics();
    expect(sample(text, 'tradingsystem_order_manager_trading_state{state="ACTIVE"}')).toBe(0);
    expect(sample(text, 'tradingsystem_order_manager_trading_state{state="HALTED"}')).toBe(1);
    expect(sample(text, 'tradingsystem_order_manager_trading_state{state="REDUCING"}')).toBe(0);
  });

  it('starts every reconciliation mismatch kind at 0, so the first mismatch shows as an increase', async () => {
    const registry = new Registry();
    createOrderManagerMetrics(registry, {
      openOrders: () => 0,
      killSwitch: () => false,
      reconciling: () => false,
      tradingState: () => 'ACTIVE',
    });
    const text = await registry.metrics();
    for (const kind of ['missing_at_broker', 'unknown_order', 'fills', 'status', 'position'])
      expect(sample(text, `tradingsystem_order_manager_reconcile_mismatches_total{kind="${kind}"}`)).toBe(0);
  });
});
