import type { FastifyRequest } from 'fastify';
import type { TSchema } from 'typebox';
import type { Config, ServiceName } from '../../kernel/config.js';
import type { App } from '../../kernel/service.js';
import { identityOf } from './auth.js';
import type { Role } from './keys.js';
import { forward, type ProxyOptions } from './proxy.js';
import {
  BarsQuery,
  DocsListQuery,
  DocsSearchQuery,
  GapsQuery,
  IdeasQuery,
  IdParams,
  JsonObject,
  SubscriptionBody,
  TickerParams,
  TradesQuery,
} from './schemas.js';

/** Which per-minute budget a route draws from (config: readsPerMinute, ordersPerMinute). */
export type LimitClass = 'read' | 'order';

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Under the group's `from` prefix; '' is the prefix itself. */
  path: string;
  access: Role;
  limit: LimitClass;
  summary: string;
  querystring?: TSchema;
  params?: TSchema;
  /** Only routes with a body schema forward a body. */
  body?: TSchema;
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

/**
 * Every proxied route, explicitly. The order-manager routes (orders, positions, pnl, risk, signals,
 * execute, audit) come as one more group with `limit: 'order'` on the order-sending ones.
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
      { ...read('', 'Add an idea'), method: 'POST', access: 'trader', body: JsonObject },
      {
        ...read('/:id', 'Change an idea', { params: IdParams }),
        method: 'PUT',
        access: 'trader',
        body: JsonObject,
      },
      { ...read('/:id', 'Delete an idea', { params: IdParams }), method: 'DELETE', access: 'trader' },
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
];

export interface Limits {
  read: number;
  order: number;
}

/** Per key (per client IP before authentication), per route, per minute. */
export const rateLimit = (max: number) => ({
  max,
  timeWindow: 60_000,
  keyGenerator: (req: FastifyRequest) => identityOf(req)?.id ?? req.ip,
});

export function registerProxyRoutes(
  app: App,
  groups: RouteGroup[],
  services: Config['services'],
  limits: Limits,
  opts: ProxyOptions,
): void {
  for (const group of groups) {
    const { host, port } = services[group.service];
    const upstream = { service: group.service, host, port };
    for (const r of group.routes) {
      app.route({
        method: r.method,
        url: group.from + r.path,
        schema: {
          tags: [group.tag],
          summary: r.summary,
          description: `Role: ${r.access}. Answered by ${group.service}.`,
          security: [{ apiKey: [] }],
          ...(r.querystring && { querystring: r.querystring }),
          ...(r.params && { params: r.params }),
          ...(r.body && { body: r.body }),
        },
        config: { access: r.access, rateLimit: rateLimit(limits[r.limit]) },
        handler: (req, reply) =>
          forward(
            req,
            reply,
            upstream,
            group.to + req.url.slice(group.from.length),
            r.body ? req.body : undefined,
            opts,
          ),
      });
    }
  }
}
