import { describe, expect, it } from 'vitest';
import type { PositionSnapshot } from '../../domain/positions.js';
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
      positions: () => [],
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

  it('starts every reconciliation mismatch kind and rejection code at 0, so the first one shows as an increase', async () => {
    const registry = new Registry();
    createOrderManagerMetrics(registry, {
      openOrders: () => 0,
      killSwitch: () => false,
      reconciling: () => false,
      tradingState: () => 'ACTIVE',
      positions: () => [],
    });
    const text = await registry.metrics();
    for (const kind of ['missing_at_broker', 'unknown_order', 'fills', 'status', 'position'])
      expect(sample(text, `tradingsystem_order_manager_reconcile_mismatches_total{kind="${kind}"}`)).toBe(0);
    for (const code of [
      'RISK_MAX_ORDER_QTY',
      'RISK_KILL_SWITCH',
      'RISK_SIGNAL_CONFIDENCE',
      'BROKER_REJECTED',
    ])
      expect(sample(text, `tradingsystem_order_manager_orders_rejected_total{code="${code}"}`)).toBe(0);
  });

  it('exports each position and its realised and unrealised P&L, and forgets a position that is gone', async () => {
    const registry = new Registry();
    const snapshot = (symbol: string, quantity: number, realisedPnl: number, unrealisedPnl: number) =>
      ({
        account: 'SIM-001',
        symbol,
        quantity,
        avgPrice: 0,
        lastPrice: null,
        realisedPnl,
        unrealisedPnl,
        totalPnl: realisedPnl + unrealisedPnl,
        sessionKey: '2026-01-02',
        updatedAt: 0,
      }) satisfies PositionSnapshot;
    let positions = [snapshot('WINZ26', -2, 12.4, -3.2), snapshot('PETR4', 100, 0, 5)];
    createOrderManagerMetrics(registry, {
      openOrders: () => 0,
      killSwitch: () => false,
      reconciling: () => false,
      tradingState: () => 'ACTIVE',
      positions: () => positions,
    });
    let text = await registry.metrics();
    const q = (symbol: string) =>
      `tradingsystem_order_manager_position_quantity{account="SIM-001",symbol="${symbol}"}`;
    const pnl = (symbol: string, kind: string) =>
      `tradingsystem_order_manager_pnl_brl{account="SIM-001",symbol="${symbol}",kind="${kind}"}`;
    expect(sample(text, q('WINZ26'))).toBe(-2);
    expect(sample(text, q('PETR4'))).toBe(100);
    expect(sample(text, pnl('WINZ26', 'realised'))).toBe(12.4);
    expect(sample(text, pnl('WINZ26', 'unrealised'))).toBe(-3.2);
    expect(sample(text, pnl('PETR4', 'unrealised'))).toBe(5);
    positions = [snapshot('PETR4', 0, 7, 0)];
    text = await registry.metrics();
    expect(text).not.toContain('symbol="WINZ26"');
    expect(sample(text, q('PETR4'))).toBe(0);
    expect(sample(text, pnl('PETR4', 'realised'))).toBe(7);
  });
});
