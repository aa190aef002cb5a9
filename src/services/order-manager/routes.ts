import type { FastifyRequest } from 'fastify';
import type { Order, OrderStatus } from '../../domain/orders.js';
import type { App } from '../../kernel/service.js';
import { parseInstant } from '../../kernel/validation.js';
import type { OrderEngine } from './engine.js';
import { changed, found, submitted } from './http.js';
import type { Reconciler } from './reconcile.js';
import {
  CancelAllBody,
  ListOrdersQuery,
  ModifyOrderBody,
  NewOrderBody,
  OrderParams,
  SettleOrderBody,
} from './schemas.js';

/** Who asked: the `x-actor` header (set by the gateway from its auth), else 'api'. */
export function actorOf(req: FastifyRequest): string {
  const h = req.headers['x-actor'];
  const v = (Array.isArray(h) ? h[0] : h)?.trim();
  return v ? v.slice(0, 64) : 'api';
}

export function registerOrderRoutes(app: App, engine: OrderEngine): void {
  app.post('/orders', { schema: { body: NewOrderBody } }, async (req, reply) => {
    // reply.elapsedTime runs from the request's arrival, before parsing and validation.
    const receivedAt = performance.now() - reply.elapsedTime;
    const { status, order } = submitted(engine.submit(req.body, actorOf(req), { receivedAt }));
    reply.status(status);
    return { data: order };
  });

  app.get('/orders', { schema: { querystring: ListOrdersQuery } }, async (req) => {
    const matching = listOrders(engine.state.orders.values(), req.query);
    const { offset, limit } = req.query;
    const data = matching.slice(offset, offset + limit);
    return { count: data.length, total: matching.length, data };
  });

  app.get('/orders/:id', { schema: { params: OrderParams } }, async (req) => ({
    data: found(engine.find(req.params.id), req.params.id),
  }));

  app.patch('/orders/:id', { schema: { params: OrderParams, body: ModifyOrderBody } }, async (req) => ({
    data: changed(engine.modify(req.params.id, req.body, actorOf(req))),
  }));

  app.delete('/orders/:id', { schema: { params: OrderParams } }, async (req) => ({
    data: changed(engine.cancel(req.params.id, actorOf(req))),
  }));

  // An operator settles an UNKNOWN order the broker does not have (see the reconciliation runbook).
  app.post('/orders/:id/settle', { schema: { params: OrderParams, body: SettleOrderBody } }, async (req) => ({
    data: changed(engine.settleUnknown(req.params.id, req.body.status, req.body.reason, actorOf(req))),
  }));

  app.post('/orders/cancel-all', { schema: { body: CancelAllBody } }, async (req) => {
    const { symbol, accounts, reason } = req.body;
    const data = engine.cancelAll({ symbol, accounts }, actorOf(req), reason);
    return { count: data.length, data };
  });
}

/** Newest first. */
function listOrders(orders: Iterable<Order>, q: ListOrdersQuery): Order[] {
  const from = q.from === undefined ? -Infinity : parseInstant('from', q.from);
  const to = q.to === undefined ? Infinity : parseInstant('to', q.to);
  const status = q.status as OrderStatus | undefined;
  const out: Order[] = [];
  for (const o of orders) {
    if (status && o.status !== status) continue;
    if (q.symbol && o.symbol !== q.symbol) continue;
    if (q.side && o.side !== q.side) continue;
    if (o.createdAt < from || o.createdAt > to) continue;
    out.push(o);
  }
  return out.reverse();
}

/** The last full reconciliation, and an operator's way to run one now (after settling a mismatch). */
export function registerReconcileRoutes(app: App, reconciler: Reconciler): void {
  app.get('/reconciliation', async () => ({ data: reconciler.health(), last: reconciler.lastFull }));
  app.post('/reconciliation', async (req) => {
    const run = await reconciler.full('operator');
    req.log.info({ event: 'reconcile.requested', actor: actorOf(req) }, 'reconciliation requested');
    return { data: run };
  });
}
