import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../kernel/config.js';
import { CODE, ERRORS, fail, isRiskCode } from '../../kernel/errors.js';
import type { App } from '../../kernel/service.js';
import {
  callUpstream,
  forward,
  type ProxyOptions,
  relay,
  type Upstream,
  type UpstreamAnswer,
} from './proxy.js';
import {
  type Limits,
  ROUTE_GROUPS,
  type RouteGroup,
  type RouteSpec,
  routeOptions,
  underApi,
  upstreamOf,
} from './routes.js';
import { ExecuteBody, PositionQuery, SignalsQuery, SymbolParams } from './schemas.js';

/**
 * The original gateway's contract (existing scripts keep working). These paths of it are plain
 * order-manager group routes, registered there once: `registerCompatRoutes` checks they still are.
 */
export const COMPAT_IN_GROUPS = [
  'POST /api/v1/signals',
  'GET /api/v1/positions',
  'POST /api/v1/risk/kill-switch',
];

const GROUP = { tag: 'compatibility', service: 'order-manager' } as const;
const spec = (method: RouteSpec['method'], path: string, summary: string, extra: Partial<RouteSpec>) =>
  ({ method, path, summary, access: 'viewer', limit: 'read', ...extra }) satisfies RouteSpec;

export const COMPAT_ROUTES = {
  latestSignals: spec('GET', '/api/v1/signals/latest', 'Latest signals (original gateway)', {
    querystring: SignalsQuery,
  }),
  position: spec('GET', '/api/v1/positions/:symbol', 'The open position in one symbol; 404 when flat', {
    params: SymbolParams,
    querystring: PositionQuery,
  }),
  execute: spec(
    'POST',
    '/api/v1/execute',
    'Place an order (original gateway): 202, or 403 on a risk rejection',
    {
      access: 'trader',
      limit: 'order',
      body: ExecuteBody,
      account: 'configured',
    },
  ),
};

export function registerCompatRoutes(
  app: App,
  services: Config['services'],
  limits: Limits,
  opts: ProxyOptions,
  groups: RouteGroup[] = ROUTE_GROUPS,
): void {
  const declared = new Set(groups.flatMap((g) => g.routes.map((r) => `${r.method} ${g.from}${r.path}`)));
  const missing = COMPAT_IN_GROUPS.filter((r) => !declared.has(r));
  if (missing.length)
    throw new Error(`compatibility routes missing from the route groups: ${missing.join(', ')}`);

  const om = upstreamOf(services, 'order-manager');
  const route = (r: RouteSpec, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    app.route({ method: r.method, url: underApi(r.path), ...routeOptions(app, r, GROUP, limits), handler });

  route(COMPAT_ROUTES.latestSignals, (req, reply) =>
    forward(req, reply, om, `/api/signals${queryOf(req.url)}`, undefined, opts),
  );
  route(COMPAT_ROUTES.position, async (req, reply) => {
    const res = await callUpstream(req, om, { method: 'GET', path: '/api/positions' }, opts);
    if (!ok(res)) return relay(reply, res);
    // Validated by the route's schemas.
    const { symbol } = req.params as { symbol: string };
    const { account } = req.query as { account?: string };
    const { data } = jsonOf(res, om) as { data?: Position[] };
    if (!Array.isArray(data)) throw badAnswer(om, res);
    const open = data.filter(
      (p) => p.symbol === symbol && p.quantity !== 0 && (account === undefined || p.account === account),
    );
    if (open.length === 0) throw fail.NOT_FOUND(`no open position in ${symbol}`, { symbol });
    if (open.length > 1) {
      throw fail.AMBIGUOUS_POSITION(`several accounts hold ${symbol}; pass ?account=`, {
        symbol,
        accounts: open.map((p) => p.account),
      });
    }
    return { data: open[0] };
  });
  route(COMPAT_ROUTES.execute, (req, reply) => execute(req, reply, om, opts));
}

interface Position {
  account: string;
  symbol: string;
  quantity: number;
}

async function execute(req: FastifyRequest, reply: FastifyReply, om: Upstream, opts: ProxyOptions) {
  const b = req.body as ExecuteBody; // validated by the route's schema
  const type = b.price === -1 ? 'MARKET' : (b.orderType ?? 'LIMIT');
  const order = {
    symbol: b.symbol,
    side: b.side,
    type,
    quantity: b.quantity,
    ...(type === 'LIMIT' && { price: b.price }),
  };
  const res = await callUpstream(req, om, { method: 'POST', path: '/api/orders', payload: order }, opts);
  if (ok(res)) {
    const { data } = jsonOf(res, om) as { data?: { id: string; status: string } };
    if (typeof data?.id !== 'string') throw badAnswer(om, res);
    const message = `${type} ${b.side} ${b.quantity} ${b.symbol} accepted for execution`;
    return reply.status(202).send({ orderId: data.id, status: data.status, message });
  }
  const error = res.status === 422 ? (jsonOf(res, om) as Partial<ErrorBody>).error : undefined;
  if (isRiskCode(error?.code)) {
    // The original contract's flat shape, not the envelope.
    return reply.status(ERRORS.RISK_LIMIT_EXCEEDED.status).send({
      code: CODE.RISK_LIMIT_EXCEEDED,
      message: error.message,
      riskCode: error.code,
      details: error.details ?? {},
    });
  }
  return relay(reply, res);
}

interface ErrorBody {
  error: { code?: string; message?: string; details?: Record<string, unknown> };
}

const ok = (res: UpstreamAnswer) => res.status >= 200 && res.status < 300;
const queryOf = (url: string) => {
  const i = url.indexOf('?');
  return i === -1 ? '' : url.slice(i);
};

function jsonOf(res: UpstreamAnswer, from: Upstream): unknown {
  try {
    return JSON.parse(res.text) ?? {};
  } catch {
    throw badAnswer(from, res);
  }
}

const badAnswer = (from: Upstream, res: UpstreamAnswer) =>
  fail.UPSTREAM_BAD_ANSWER(`${from.service} gave an answer the gateway cannot read`, {
    service: from.service,
    status: res.status,
  });
