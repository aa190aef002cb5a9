import {
  type Position,
  positionSnapshot,
  roundBrl,
  sessionKeyAt,
  startSession,
} from '../../domain/positions.js';
import { RiskLimitsSchema, type TradingState } from '../../domain/risk.js';
import type { App } from '../../kernel/service.js';
import type { OrderQueries } from '../../ports/order-store.js';
import type { OrderEngine } from './engine.js';
import { limitsApplied } from './http.js';
import type { RiskControls } from './risk-controls.js';
import { actorOf } from './routes.js';
import { AuditQuery, KillSwitchBody, ReasonBody, TradingStateBody } from './schemas.js';

export interface RiskRouteDeps {
  engine: OrderEngine;
  controls: RiskControls;
  journal: OrderQueries;
  timeZone: string;
  now(): number;
  lastPrice(symbol: string): number | undefined;
}

export function registerRiskRoutes(app: App, d: RiskRouteDeps): void {
  const { engine, controls } = d;
  const riskState = () => ({
    tradingState: engine.state.tradingState,
    reason: engine.state.tradingStateReason,
    /** Set when the daily-loss limit moved trading: the session it belongs to; the next one lifts it. */
    lossLimitSession: engine.state.lossLimitSession,
    killSwitch: engine.state.killSwitch,
  });

  app.get('/risk/limits', async () => ({ data: engine.state.limits }));
  app.put('/risk/limits', { schema: { body: RiskLimitsSchema } }, async (req) => {
    limitsApplied(controls.setLimits(req.body, actorOf(req)));
    return { data: engine.state.limits };
  });

  app.get('/risk/state', async () => ({ data: riskState() }));
  app.put('/risk/state', { schema: { body: TradingStateBody } }, async (req) => {
    controls.setTradingState(req.body.state as TradingState, req.body.reason, actorOf(req));
    return { data: riskState() };
  });

  app.post('/risk/kill-switch', { schema: { body: KillSwitchBody } }, async (req) => {
    const canceled = controls.activateKillSwitch(req.body.reason, req.body.cancelAll ?? false, actorOf(req));
    return { data: { ...riskState(), canceled: canceled.map((o) => o.id) } };
  });
  app.post('/risk/kill-switch/reset', { schema: { body: ReasonBody } }, async (req) => {
    controls.resetKillSwitch(req.body.reason, actorOf(req));
    return { data: riskState() };
  });

  app.get('/positions', async () => {
    const data = snapshots(d);
    return { count: data.length, data };
  });
  app.get('/pnl', async () => {
    const symbols = snapshots(d);
    const sum = (f: (s: (typeof symbols)[number]) => number) =>
      roundBrl(symbols.reduce((cents, s) => cents + Math.round(f(s) * 100), 0) / 100);
    return {
      data: {
        currency: 'BRL',
        realised: sum((s) => s.realisedPnl),
        unrealised: sum((s) => s.unrealisedPnl),
        total: sum((s) => s.totalPnl),
        symbols,
      },
    };
  });

  app.get('/audit', { schema: { querystring: AuditQuery } }, async (req) => {
    const data = d.journal.auditTrail(req.query.limit, req.query.action);
    return { count: data.length, data };
  });
}

/** Positions as shown: today's session, marked to the last trade when one is known. */
function snapshots(d: RiskRouteDeps) {
  const session = sessionKeyAt(d.now(), d.timeZone);
  return [...d.engine.state.positions.values()].map((p: Position) =>
    positionSnapshot(startSession(p, session), d.lastPrice(p.symbol)),
  );
}
