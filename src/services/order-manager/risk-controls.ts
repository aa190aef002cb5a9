import type { Order } from '../../domain/orders.js';
import { dailyPnl } from '../../domain/positions.js';
import {
  type RiskLimits,
  riskLimitsProblems,
  type TradingState,
  tradingStateAfterPnl,
} from '../../domain/risk.js';
import type { Logger } from '../../kernel/logger.js';
import type { OrderEngine } from './engine.js';
import type { LimitsResult } from './results.js';
import { accountPositions } from './risk-context.js';

/**
 * The operator's levers over the risk engine: limits, trading state and the kill switch. Each change
 * is journaled with its audit entry, so a restart comes back in the same state.
 */
export class RiskControls {
  constructor(
    private readonly engine: OrderEngine,
    private readonly logger: Logger,
  ) {}

  setLimits(limits: RiskLimits, actor: string): LimitsResult {
    const problems = riskLimitsProblems(limits);
    if (problems.length > 0) return { kind: 'invalid', problems };
    this.engine.record('risk.limits', null, { limits }, { actor, action: 'risk.limits', result: 'ok' });
    return { kind: 'applied' };
  }

  /** A person's choice: it stays until a person changes it (a new session does not lift it). */
  setTradingState(state: TradingState, reason: string, actor: string): void {
    this.engine.setTradingState(state, reason, actor, 'operator');
  }

  /** Blocks new orders at once (the next risk check sees it); with cancelAll, cancels every open order. */
  activateKillSwitch(reason: string, cancelAll: boolean, actor: string): Order[] {
    this.engine.record(
      'risk.kill_switch',
      null,
      { active: true, reason, cancelAll },
      { actor, action: 'risk.kill_switch', reason, result: 'activated', details: { cancelAll } },
    );
    this.logger.error({ event: 'risk.kill_switch', reason, actor, cancelAll }, 'kill switch activated');
    return cancelAll ? this.engine.cancelAll({}, actor, `kill switch: ${reason}`) : [];
  }

  resetKillSwitch(reason: string, actor: string): void {
    this.engine.record(
      'risk.kill_switch',
      null,
      { active: false, reason },
      { actor, action: 'risk.kill_switch_reset', reason, result: 'reset' },
    );
    this.logger.warn({ event: 'risk.kill_switch_reset', reason, actor }, 'kill switch reset');
  }

  /**
   * After a fill: the daily P&L may tighten the trading state (never loosen it); the new session
   * lifts what this set (`OrderEngine.rollSession`), first, so today's P&L is judged from today's state.
   */
  afterFill(order: Order): void {
    this.engine.rollSession();
    const { state } = this.engine;
    const inputs = this.engine.riskInputs();
    const positions = accountPositions(state, order.account, inputs.now, inputs.timeZone);
    const pnl = dailyPnl(positions, inputs.lastPrice);
    const next = tradingStateAfterPnl(state.tradingState, pnl, state.limits);
    if (next === state.tradingState) return;
    const reason = `daily P&L R$${pnl.realised + pnl.unrealised} reached the loss limit`;
    this.engine.setTradingState(next, reason, 'risk-engine', 'daily-loss');
  }
}
