import { randomUUID } from 'node:crypto';
import type { Order, OrderSide } from '../../domain/orders.js';
import { listSignals, type Signal, type SignalDecision, type SignalOutcome } from '../../domain/signals.js';
import { fail } from '../../kernel/errors.js';
import type { App } from '../../kernel/service.js';
import type { Audit, OrderEngine } from './engine.js';
import type { OrderManagerMetrics } from './metrics.js';
import { actorOf } from './routes.js';
import { ListSignalsQuery, type NewOrderBody, SignalBody } from './schemas.js';

export interface SignalSettings {
  autoExecute: boolean;
  /** At or above: acted on. The risk limit minSignalConfidence is checked again on the order. */
  threshold: number;
}

export interface SignalAnswer {
  signal: Signal;
  order?: Order;
  decision: SignalDecision;
  reason: string;
  code?: string;
}

/**
 * POST /api/signals: each signal is journaled, then (auto-execution on, BUY/SELL, confident enough)
 * becomes a MARKET order through the engine's submit, the same path and risk engine as POST /api/orders.
 */
export class SignalRouter {
  constructor(
    private readonly engine: OrderEngine,
    private readonly settings: SignalSettings,
    private readonly metrics: OrderManagerMetrics,
    private readonly lotSize: (symbol: string) => number,
  ) {}

  receive(body: SignalBody, actor: string, now: number): SignalAnswer {
    const signal: Signal = { id: randomUUID(), receivedAt: now, ...body, actor };
    const side = signal.direction === 'HOLD' ? undefined : signal.direction;
    const skip = side ? this.whyIgnored(signal) : 'HOLD places no order';
    if (!side || skip) {
      const ignored: Signal = { ...signal, decision: 'ignored', reason: skip ?? 'no order' };
      this.engine.record('signal.received', null, { signal: ignored }, signalAudit(ignored));
      return this.answer(ignored);
    }
    // Journaled before acting: it commits with (or before) the order, and nothing is sent before that.
    this.engine.record('signal.received', null, { signal });
    const { outcome, order } = this.execute(signal, side);
    const decided: Signal = { ...signal, ...outcome };
    this.engine.record('signal.decided', null, { signalId: signal.id, ...outcome }, signalAudit(decided));
    return this.answer(decided, order);
  }

  private whyIgnored(s: Signal): string | undefined {
    if (!this.settings.autoExecute) return 'auto-execution is off';
    if (s.confidence < this.settings.threshold) {
      return `confidence ${s.confidence} is below the threshold ${this.settings.threshold}`;
    }
    return undefined;
  }

  private execute(s: Signal, side: OrderSide): { outcome: Omit<SignalOutcome, 'signalId'>; order?: Order } {
    const body: NewOrderBody = {
      symbol: s.symbol,
      side,
      type: 'MARKET',
      quantity: s.quantity ?? this.lotSize(s.symbol),
      // Derived from the signal: a resent request cannot make a second order for the same signal.
      clientOrderId: `sig-${s.id}`,
      strategyId: s.source,
    };
    const r = this.engine.submit(body, s.actor, { signalConfidence: s.confidence });
    switch (r.kind) {
      case 'accepted':
      case 'duplicate':
        return {
          outcome: { decision: 'executed', reason: 'order submitted', orderId: r.order.id },
          order: r.order,
        };
      case 'denied':
        return { outcome: { decision: 'rejected', reason: r.rejection.message, code: r.rejection.code } };
      case 'invalid':
        // The signal's own fields made a bad order (a quantity off the lot): the caller's 400.
        throw fail[r.error.code](r.error.message, r.error.details);
    }
  }

  private answer(signal: Signal, order?: Order): SignalAnswer {
    const decision = signal.decision ?? 'ignored';
    this.metrics.signals.inc({ decision });
    return {
      signal,
      ...(order && { order }),
      decision,
      reason: signal.reason ?? '',
      ...(signal.code && { code: signal.code }),
    };
  }
}

function signalAudit(s: Signal): Audit {
  return {
    actor: s.actor,
    action: 'signal.receive',
    target: s.id,
    reason: s.reason ?? null,
    result: s.code ?? s.decision ?? 'received',
    details: {
      symbol: s.symbol,
      direction: s.direction,
      confidence: s.confidence,
      source: s.source,
      ...(s.orderId && { orderId: s.orderId }),
    },
  };
}

export function registerSignalRoutes(app: App, router: SignalRouter, engine: OrderEngine, now: () => number) {
  app.post('/signals', { schema: { body: SignalBody } }, async (req, reply) => {
    const data = router.receive(req.body, actorOf(req), now());
    reply.status(201);
    return { data };
  });

  app.get('/signals', { schema: { querystring: ListSignalsQuery } }, async (req) => {
    const data = listSignals(engine.state.signals, req.query.limit, req.query.symbol);
    return { count: data.length, data };
  });
}
