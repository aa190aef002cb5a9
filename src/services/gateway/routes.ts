import type { FastifyRequest } from 'fastify';
import type { TSchema } from 'typebox';
import type { Role } from '../../kernel/auth/keys.js';
import { ROLE_HEADER } from '../../kernel/auth/role-header.js';
import type { Config, ServiceName } from '../../kernel/config.js';
import type { App } from '../../kernel/service.js';
import type { AccountRule } from './accounts.js';
import { identityOf } from './auth.js';
import { SECURITY } from './openapi.js';
import { forward, type ProxyOptions, type Upstream } from './proxy.js';
import {
  AuditQuery,
  BarsQuery,
  DocsListQuery,
  DocsSearchQuery,
  GapsQuery,
  IdeaCreateHeaders,
  IdeasQuery,
  IdParams,
  JsonObject,
  OrdersQuery,
  SignalsQuery,
  SubscriptionBody,
  TickerParams,
  TradesQuery,
} from './schemas.js';

/**
 * Which per-minute budget a route draws from (config: readsPerMinute, ordersPerMinute,
 * ideaWritesPerMinute). `order` (placing or changing an order, on any route) and `cancel` are one
 * budget per key each, shared by their routes; `read` and `write` count per route.
 */
export type LimitClass = 'read' | 'order' | 'cancel' | 'write';

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Under the group's `from` prefix; '' is the prefix itself. */
  path: string;
  access: Role;
  limit: LimitClass;
  summary: string;
  querystring?: TSchema;
  params?: TSchema;
  /** Only routes with a body schema forward a body. */
  body?: TSchema;
  /** Request headers the route documents and passes to the upstream (an object schema, lower-case names). */
  headers?: TSchema;
  /** Tell the upstream the caller's role (`ROLE_HEADER`). */
  passRole?: boolean;
  /** Which account the request trades for, checked against the key's accounts (accounts.ts). */
  account?: AccountRule;
}

/**
 * The REST API's prefix: its routes are one plugin mounted here (service.ts), so what applies to the
 * API (its default role, the account check, the refusal while the keys file is unusable) applies by
 * encapsulation. The route tables name each public path in full.
 */
export const API_PREFIX = '/api/v1';

/** A public path as the API plugin registers it, relative to `API_PREFIX`. */
export function underApi(publicPath: string): string {
  if (!publicPath.startsWith(API_PREFIX)) throw new Error(`${publicPath} is not under ${API_PREFIX}`);
  return publicPath.slice(API_PREFIX.length);
}

/** Routes answered by one upstream: `from` on the gateway becomes `to` on the upstream. */
export interface RouteGroup {
  service: ServiceName;
  tag: string;
  from: string;
  to: string;
  routes: RouteSpec[];
}

const read = (path: string, summary: string, extra: Partial<RouteSpec> = {}): RouteSpec => ({
  method: 'GET',
  path,
  access: 'viewer',
  limit: 'read',
  summary,
  ...extra,
});

/** A state change: a body (JSON object, judged by the upstream), a role and a budget. */
const change = (
  method: RouteSpec['method'],
  path: string,
  summary: string,
  access: Role,
  limit: LimitClass,
  extra: Partial<RouteSpec> = {},
): RouteSpec => ({
  method,
  path,
  access,
  limit,
  summary,
  ...(method !== 'DELETE' && { body: JsonObject }),
  ...extra,
});

const ORDER_ID = { params: IdParams };

/**
 * Every proxied route, explicitly. The original gateway's own shapes (execute, positions/:symbol,
 * signals/latest) are in compat.ts.
 */
export const ROUTE_GROUPS: RouteGroup[] = [
  {
    service: 'data-capture',
    tag: 'market data',
    from: '/api/v1',
    to: '/api',
    routes: [
      read('/trades', 'Captured trades of one instrument', { querystring: TradesQuery }),
      read('/bars', 'OHLCV bars of one instrument', { querystring: BarsQuery }),
      read('/subscriptions', 'Instruments being captured'),
      read('/gaps', 'Trade-number gaps and their backfill state', { querystring: GapsQuery }),
      {
        ...read('/subscriptions', 'Start capturing an instrument'),
        method: 'POST',
        access: 'admin',
        body: SubscriptionBody,
      },
      {
        ...read('/subscriptions/:ticker', 'Stop capturing an instrument', { params: TickerParams }),
        method: 'DELETE',
        access: 'admin',
      },
    ],
  },
  {
    service: 'idea-bank',
    tag: 'ideas',
    from: '/api/v1/ideas',
    to: '/api/items',
    routes: [
      read('', 'List ideas', { querystring: IdeasQuery }),
      read('/:id', 'One idea', { params: IdParams }),
      {
        ...read('', 'Add an idea (a retry with the same Idempotency-Key answers the idea it created)'),
        method: 'POST',
        access: 'trader',
        limit: 'write',
        passRole: true,
        body: JsonObject,
        headers: IdeaCreateHeaders,
      },
      {
        ...read('/:id', 'Change an idea', { params: IdParams }),
        method: 'PUT',
        access: 'trader',
        limit: 'write',
        passRole: true,
        body: JsonObject,
      },
      {
        ...read('/:id', 'Delete an idea', { params: IdParams }),
        method: 'DELETE',
        access: 'trader',
        limit: 'write',
      },
    ],
  },
  {
    service: 'docs',
    tag: 'docs',
    from: '/api/v1/docs',
    to: '/api/docs',
    routes: [
      read('', 'Handbook pages', { querystring: DocsListQuery }),
      read('/search', 'Search the handbook', { querystring: DocsSearchQuery }),
      read('/*', 'One handbook page (or /health: stale pages)'),
    ],
  },
  {
    service: 'order-manager',
    tag: 'orders',
    from: '/api/v1',
    to: '/api',
    routes: [
      read('/orders', 'Orders, newest first', { querystring: OrdersQuery }),
      read('/orders/:id', 'One order', ORDER_ID),
      change('POST', '/orders', 'Place an order (through the pre-trade risk checks)', 'trader', 'order', {
        account: 'named',
      }),
      change('PATCH', '/orders/:id', 'Change the price or quantity of an order', 'trader', 'order', {
        ...ORDER_ID,
        account: 'of-order',
      }),
      // Cancels have a budget of their own: a key that spent its order budget can still cancel.
      change('DELETE', '/orders/:id', 'Cancel an order', 'trader', 'cancel', {
        ...ORDER_ID,
        account: 'of-order',
      }),
      change('POST', '/orders/cancel-all', 'Cancel every open order (of one symbol)', 'trader', 'cancel', {
        account: 'cancel-all',
      }),
      change(
        'POST',
        '/orders/:id/settle',
        'Settle an UNKNOWN order the broker does not have (CANCELED, REJECTED or EXPIRED, with a reason)',
        'admin',
        'read',
        ORDER_ID,
      ),
      read('/positions', "Today's positions, marked to the last trade"),
      read('/pnl', "Today's realised and unrealised P&L"),
      read('/risk/limits', 'The risk limits'),
      change('PUT', '/risk/limits', 'Replace the risk limits', 'admin', 'read'),
      read('/risk/state', 'Trading state and kill switch'),
      change('PUT', '/risk/state', 'Set the trading state (ACTIVE, REDUCING, HALTED)', 'admin', 'read'),
      // Anyone who may trade may stop trading, on the looser budget: stopping is never throttled like orders.
      change('POST', '/risk/kill-switch', 'Activate the kill switch', 'trader', 'read'),
      change('POST', '/risk/kill-switch/reset', 'Reset the kill switch', 'admin', 'read'),
      change('POST', '/signals', 'Send a signal (may become a MARKET order)', 'trader', 'order', {
        account: 'configured',
      }),
      read('/signals', 'Signals received, newest first', { querystring: SignalsQuery }),
      read('/audit', 'Who did what: the audit trail', { querystring: AuditQuery }),
      read('/reconciliation', 'The last full reconciliation with the broker and its mismatches'),
      change('POST', '/reconciliation', 'Reconcile with the broker now', 'admin', 'read'),
    ],
  },
];

export interface Limits {
  read: number;
  order: number;
  /** Falls back to the order budget (its own count, the same size). */
  cancel?: number;
  /** Falls back to the read budget. */
  write?: number;
}

/** Per key (per client IP before authentication), per route, per minute. */
export const rateLimit = (max: number) => ({
  max,
  timeWindow: 60_000,
  keyGenerator: (req: FastifyRequest) => identityOf(req)?.id ?? req.ip,
});

/** Budgets counted once for all their routes, not per route: three order routes are not three budgets. */
const SHARED: ReadonlySet<LimitClass> = new Set(['order', 'cancel']);
type BudgetHook = ReturnType<App['rateLimit']>;
const sharedBudgets = new WeakMap<App, Map<LimitClass, BudgetHook>>();

/** The one limiter of a shared budget on this app (the plugin's own 429 and Retry-After). */
function sharedBudget(app: App, limit: LimitClass, max: number): BudgetHook {
  let budgets = sharedBudgets.get(app);
  if (!budgets) {
    budgets = new Map();
    sharedBudgets.set(app, budgets);
  }
  let hook = budgets.get(limit);
  if (!hook) {
    hook = app.rateLimit(rateLimit(max));
    budgets.set(limit, hook);
  }
  return hook;
}

const maxOf = (limit: LimitClass, limits: Limits): number =>
  limit === 'cancel' ? (limits.cancel ?? limits.order) : (limits[limit] ?? limits.read);

export function registerProxyRoutes(
  app: App,
  groups: RouteGroup[],
  services: Config['services'],
  limits: Limits,
  opts: ProxyOptions,
): void {
  for (const group of groups) {
    const upstream = upstreamOf(services, group.service);
    for (const r of group.routes) {
      const pass = headerNames(r.headers);
      if (r.passRole) pass.push(ROLE_HEADER);
      app.route({
        method: r.method,
        url: underApi(group.from + r.path),
        ...routeOptions(app, r, group, limits),
        handler: (req, reply) => {
          // Whatever a client sent under this name is replaced: only the gateway says who calls.
          if (r.passRole) req.headers[ROLE_HEADER] = identityOf(req)?.role ?? 'viewer';
          return forward(
            req,
            reply,
            upstream,
            upstreamPath(group.to + r.path, req.params as Record<string, string>, req.url),
            r.body ? req.body : undefined,
            opts,
            pass,
          );
        },
      });
    }
  }
}

/**
 * The upstream path of a matched route: its own pattern with the params the router matched, and the
 * query string. Never a slice of the raw target: in absolute form (`GET https://status/api/v1/x`)
 * the router matches the path but the raw URL carries the origin too, so slicing it forwarded to
 * another upstream path than the one whose role was checked.
 */
export function upstreamPath(pattern: string, params: Record<string, string>, rawUrl: string): string {
  const encode = (v: string) => encodeURIComponent(v);
  const path = pattern
    .replace(/\/:([A-Za-z0-9_]+)/g, (_m, name: string) => `/${encode(params[name] ?? '')}`)
    .replace(/\/\*$/, () => `/${(params['*'] ?? '').split('/').map(encode).join('/')}`);
  const q = rawUrl.indexOf('?');
  return q === -1 ? path : path + rawUrl.slice(q);
}

/** The header names a route's `headers` schema declares: the ones it passes to the upstream. */
function headerNames(schema: TSchema | undefined): string[] {
  const properties = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return properties ? Object.keys(properties).map((n) => n.toLowerCase()) : [];
}

export const upstreamOf = (services: Config['services'], service: ServiceName): Upstream => {
  const { host, port } = services[service];
  return { service, host, port };
};

/** Schema (documentation, validation), config (role) and rate limit of a gateway route. */
export function routeOptions(
  app: App,
  r: RouteSpec,
  group: Pick<RouteGroup, 'tag' | 'service'>,
  limits: Limits,
) {
  const max = maxOf(r.limit, limits);
  const shared = SHARED.has(r.limit);
  return {
    schema: {
      tags: [group.tag],
      summary: r.summary,
      description: `Role: ${r.access}. Answered by ${group.service}.${
        shared ? ` Draws on the key's one ${r.limit} budget, shared by every ${r.limit} route.` : ''
      }`,
      security: SECURITY,
      ...(r.querystring && { querystring: r.querystring }),
      ...(r.params && { params: r.params }),
      ...(r.body && { body: r.body }),
      ...(r.headers && { headers: r.headers }),
    },
    config: {
      access: r.access,
      ...(r.account && { account: r.account }),
      ...(!shared && { rateLimit: rateLimit(max) }),
    },
    ...(shared && { preHandler: sharedBudget(app, r.limit, max) }),
  };
}
