import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../test/helpers/cli.js';
import type { ServiceName } from './system.js';
import { rng } from './util.js';

/** How a query field is judged, so a garbage value is sure to be invalid. */
type QueryKind = 'int' | 'offset' | 'enum' | 'ticker' | 'time' | 'text';

/**
 * One route and a valid example of its inputs. Malformed requests are made from the example by
 * changes that are invalid by construction (an unknown field, a field of the wrong JSON type, a body
 * that is not JSON or not an object, a garbage id), so no malformed request can change state.
 */
export interface RouteCase {
  service: ServiceName;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Fastify style: `/api/orders/:id`, `/api/docs/*`. */
  path: string;
  /** Path parameters: a harmless valid value each (a made-up id: 404, never a real object). */
  params?: Record<string, string>;
  /** A valid query and the kind of each field; strict queries refuse unknown fields. */
  query?: Record<string, [string, QueryKind]>;
  /** A valid body, validated strictly by the route. */
  body?: Record<string, unknown>;
  /** The route takes no body: only bodies that do not parse are sent (rejected before any handler). */
  noBody?: boolean;
}

const ZERO_UUID = '00000000-0000-4000-8000-000000000000';
const WIN_MARKET = {
  symbol: 'WINZ26',
  side: 'BUY',
  type: 'MARKET',
  quantity: 1,
  clientOrderId: 'chaos-malformed',
};

/** Every route of every service, from their route files (see `routeFileCoverage`). */
export const INTERNAL_ROUTES: RouteCase[] = [
  // data-capture (src/services/data-capture/routes.ts)
  { service: 'data-capture', method: 'GET', path: '/api/subscriptions' },
  { service: 'data-capture', method: 'POST', path: '/api/subscriptions', body: { ticker: 'WINZ26' } },
  {
    service: 'data-capture',
    method: 'DELETE',
    path: '/api/subscriptions/:ticker',
    params: { ticker: 'ZZZZ9' },
    noBody: true,
  },
  {
    service: 'data-capture',
    method: 'GET',
    path: '/api/trades',
    query: {
      ticker: ['WINZ26', 'ticker'],
      limit: ['5', 'int'],
      order: ['desc', 'enum'],
      from: ['0', 'time'],
    },
  },
  {
    service: 'data-capture',
    method: 'GET',
    path: '/api/bars',
    query: {
      ticker: ['WINZ26', 'ticker'],
      interval: ['1m', 'enum'],
      limit: ['5', 'int'],
      to: ['2099-01-01T00:00:00Z', 'time'],
    },
  },
  {
    service: 'data-capture',
    method: 'GET',
    path: '/api/gaps',
    query: { state: ['open', 'enum'], ticker: ['WINZ26', 'ticker'] },
  },
  { service: 'data-capture', method: 'GET', path: '/api/status' },
  { service: 'data-capture', method: 'GET', path: '/api/sim/truth' },
  { service: 'data-capture', method: 'GET', path: '/api/sim/faults' },
  {
    service: 'data-capture',
    method: 'POST',
    path: '/api/sim/faults',
    body: { kind: 'slow-callbacks', durationMs: 1 },
  },
  { service: 'data-capture', method: 'DELETE', path: '/api/sim/faults', noBody: true },
  // order-manager (routes.ts, risk-routes.ts, signals.ts)
  { service: 'order-manager', method: 'POST', path: '/api/orders', body: WIN_MARKET },
  {
    service: 'order-manager',
    method: 'GET',
    path: '/api/orders',
    query: {
      status: ['FILLED', 'enum'],
      symbol: ['WINZ26', 'ticker'],
      side: ['BUY', 'enum'],
      from: ['2020-01-01T00:00:00Z', 'time'],
      limit: ['5', 'int'],
      offset: ['0', 'offset'],
    },
  },
  { service: 'order-manager', method: 'GET', path: '/api/orders/:id', params: { id: 'chaos-no-such-order' } },
  {
    service: 'order-manager',
    method: 'PATCH',
    path: '/api/orders/:id',
    params: { id: 'chaos-no-such-order' },
    body: { price: 100_000 },
  },
  {
    service: 'order-manager',
    method: 'DELETE',
    path: '/api/orders/:id',
    params: { id: 'chaos-no-such-order' },
    noBody: true,
  },
  {
    service: 'order-manager',
    method: 'POST',
    path: '/api/orders/:id/settle',
    params: { id: 'chaos-no-such-order' },
    body: { status: 'CANCELED', reason: 'chaos' },
  },
  {
    service: 'order-manager',
    method: 'POST',
    path: '/api/orders/cancel-all',
    body: { symbol: 'WINZ26', reason: 'chaos' },
  },
  { service: 'order-manager', method: 'GET', path: '/api/reconciliation' },
  { service: 'order-manager', method: 'POST', path: '/api/reconciliation', noBody: true },
  { service: 'order-manager', method: 'GET', path: '/api/risk/limits' },
  // The body is filled with the live limits at run time.
  { service: 'order-manager', method: 'PUT', path: '/api/risk/limits', body: {} },
  { service: 'order-manager', method: 'GET', path: '/api/risk/state' },
  {
    service: 'order-manager',
    method: 'PUT',
    path: '/api/risk/state',
    body: { state: 'ACTIVE', reason: 'chaos' },
  },
  {
    service: 'order-manager',
    method: 'POST',
    path: '/api/risk/kill-switch',
    body: { reason: 'chaos', cancelAll: false },
  },
  {
    service: 'order-manager',
    method: 'POST',
    path: '/api/risk/kill-switch/reset',
    body: { reason: 'chaos' },
  },
  { service: 'order-manager', method: 'GET', path: '/api/positions' },
  { service: 'order-manager', method: 'GET', path: '/api/pnl' },
  {
    service: 'order-manager',
    method: 'GET',
    path: '/api/audit',
    query: { limit: ['5', 'int'], action: ['order.new', 'text'] },
  },
  {
    service: 'order-manager',
    method: 'POST',
    path: '/api/signals',
    body: { symbol: 'WINZ26', direction: 'HOLD', confidence: 0.1, source: 'chaos' },
  },
  {
    service: 'order-manager',
    method: 'GET',
    path: '/api/signals',
    query: { symbol: ['WINZ26', 'ticker'], limit: ['5', 'int'] },
  },
  // order-manager (slo-routes.ts)
  {
    service: 'order-manager',
    method: 'GET',
    path: '/api/slo',
    query: { from: ['2026-01-01T00:00:00Z', 'time'], to: ['2099-01-01T00:00:00Z', 'time'] },
  },
  // idea-bank (src/services/idea-bank/service.ts)
  {
    service: 'idea-bank',
    method: 'GET',
    path: '/api/items',
    query: {
      status: ['new', 'enum'],
      category: ['dashboard', 'enum'],
      priority: ['low', 'enum'],
      tag: ['chaos', 'text'],
      limit: ['5', 'int'],
      offset: ['0', 'offset'],
      sort: ['-createdAt', 'enum'],
    },
  },
  { service: 'idea-bank', method: 'GET', path: '/api/items/:id', params: { id: ZERO_UUID } },
  {
    service: 'idea-bank',
    method: 'POST',
    path: '/api/items',
    body: {
      title: 'chaos',
      description: 'malformed requests',
      category: 'dashboard',
      priority: 'low',
      tags: ['chaos'],
    },
  },
  {
    service: 'idea-bank',
    method: 'PUT',
    path: '/api/items/:id',
    params: { id: ZERO_UUID },
    body: { title: 'chaos' },
  },
  { service: 'idea-bank', method: 'DELETE', path: '/api/items/:id', params: { id: ZERO_UUID }, noBody: true },
  // docs (src/services/docs/routes.ts)
  {
    service: 'docs',
    method: 'GET',
    path: '/api/docs',
    query: { domain: ['ops', 'enum'], status: ['active', 'enum'], tag: ['ops', 'text'] },
  },
  {
    service: 'docs',
    method: 'GET',
    path: '/api/docs/search',
    query: { q: ['restore', 'text'], limit: ['3', 'int'] },
  },
  { service: 'docs', method: 'GET', path: '/api/docs/health' },
  { service: 'docs', method: 'GET', path: '/api/docs/*', params: { '*': 'runbooks/no-such-page' } },
  // stream (src/services/stream/service.ts)
  { service: 'stream', method: 'GET', path: '/api/status' },
];

/** The gateway's own routes (not proxied to one upstream route). */
export const GATEWAY_ROUTES: RouteCase[] = [
  {
    service: 'gateway',
    method: 'POST',
    path: '/api/v1/session',
    body: { key: 'tsk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
  },
  { service: 'gateway', method: 'GET', path: '/api/v1/session' },
  { service: 'gateway', method: 'DELETE', path: '/api/v1/session', noBody: true },
  { service: 'gateway', method: 'POST', path: '/api/v1/stream/token', body: {} },
  { service: 'gateway', method: 'GET', path: '/api/v1/health' },
  { service: 'gateway', method: 'GET', path: '/api/v1/openapi.json' },
  {
    service: 'gateway',
    method: 'GET',
    path: '/api/v1/slo',
    query: { from: ['2026-01-01T00:00:00Z', 'time'], to: ['2026-01-02T00:00:00Z', 'time'] },
  },
  {
    service: 'gateway',
    method: 'GET',
    path: '/api/v1/positions/:symbol',
    params: { symbol: 'PETR4' },
    query: { account: ['SIM-001', 'text'] },
  },
  {
    service: 'gateway',
    method: 'POST',
    path: '/api/v1/execute',
    body: { symbol: 'WINZ26', side: 'BUY', quantity: 1, price: -1, orderType: 'MARKET' },
  },
];

/** The upstream path a gateway path is proxied to (the route groups' from → to). */
export function upstreamOf(gatewayPath: string): { service: ServiceName; path: string } | null {
  const map: [string, ServiceName | null, string][] = [
    ['/api/v1/ideas', 'idea-bank', '/api/items'],
    ['/api/v1/docs', 'docs', '/api/docs'],
    ['/api/v1/signals/latest', 'order-manager', '/api/signals'],
  ];
  for (const [from, service, to] of map) {
    if (service && (gatewayPath === from || gatewayPath.startsWith(`${from}/`)))
      return { service, path: to + gatewayPath.slice(from.length) };
  }
  if (!gatewayPath.startsWith('/api/v1/')) return null;
  const rest = `/api${gatewayPath.slice('/api/v1'.length)}`;
  const owner = INTERNAL_ROUTES.find(
    (r) => (r.service === 'data-capture' || r.service === 'order-manager') && norm(r.path) === norm(rest),
  );
  return owner ? { service: owner.service, path: rest } : null;
}

/** `/api/orders/:id` and `/api/orders/{id}` alike; `*` stays. */
export const norm = (p: string) =>
  p
    .replace(/\{([^}]+)\}/g, ':$1')
    .replace(/:[^/]+/g, ':p')
    .replace(/\/\*$/, '/:p');

/** Routes declared in the services' route files (literal paths under /api): what the catalogue must cover. */
export function routeFileCoverage(): { method: string; path: string; file: string }[] {
  const out: { method: string; path: string; file: string }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = path.join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.ts') && !e.endsWith('.test.ts')) {
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/app\.(get|post|put|patch|delete)\(\s*'(\/api\/[^']*)'/g)) {
          out.push({ method: (m[1] ?? '').toUpperCase(), path: m[2] ?? '', file: path.relative(ROOT, p) });
        }
      }
    }
  };
  walk(path.join(ROOT, 'src', 'services'));
  return out;
}

export type MalformedKind =
  | 'json-syntax'
  | 'not-object'
  | 'unknown-field'
  | 'wrong-type'
  | 'content-type'
  | 'oversize'
  | 'unknown-query'
  | 'bad-query-value'
  | 'bad-param';

export interface MalformedRequest {
  kind: MalformedKind;
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** The field a 400 must name (unknown and wrong-type fields). */
  field?: string;
}

const JSON_SYNTAX = ['{', '{"a":', '[1,2', 'nul', '{"x":1}}', '{"a":"\\x"}', "{'a':1}", '{"a":1,}', '\u0000'];
const NOT_OBJECT = ['[]', '"text"', '42', 'true', '[{"a":1}]'];
const BAD_PARAM = [
  'x'.repeat(300),
  'a b',
  '%00',
  '..%2F..%2Fetc%2Fpasswd',
  '%3Cscript%3E',
  '%E2%82',
  '%F0%9F%92%A9'.repeat(40),
  'ZZ%20ZZ',
];
const BAD_QUERY: Record<QueryKind, string[]> = {
  int: ['abc', '-5', '1.5', '1e999', '99999999999', ''],
  // An offset has no maximum: a huge one is a valid (empty) page, but not a non-number.
  offset: ['abc', '-5', '1.5', '1e999'],
  enum: ['zzz', 'DROP TABLE', '%00', 'x'.repeat(500)],
  ticker: ['lower', 'X', '..%2F..', 'A'.repeat(60), '%00'],
  time: ['not-a-time', '2026-13-45T99:99:99Z', 'x'.repeat(100)],
  text: [],
};
const WRONG: Record<string, unknown[]> = {
  string: [123, true, {}, [], null],
  number: ['12', true, {}, [], null, 'NaN'],
  boolean: ['true', 1, null, {}],
  object: ['x', 1, [], null, true],
  array: ['x', 1, {}, null],
};
const typeOf = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

/**
 * The n-th malformed request for a route, at `prefix` (gateway: `/api/v1/...`) with `headers`
 * (the gateway's API key). Kinds rotate so every route gets every kind that applies to it.
 */
export function malformedRequest(
  route: RouteCase,
  urlPath: string,
  n: number,
  headers: Record<string, string>,
): MalformedRequest {
  const rand = rng(n * 7919 + urlPath.length);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const kinds: MalformedKind[] = [];
  if (route.body)
    kinds.push(
      'json-syntax',
      'not-object',
      'unknown-field',
      'wrong-type',
      'unknown-field',
      'wrong-type',
      'content-type',
    );
  else if (route.noBody || route.method !== 'GET') kinds.push('json-syntax');
  if (route.body && n % 97 === 0) kinds.splice(0, kinds.length, 'oversize');
  if (route.query) kinds.push('unknown-query', 'bad-query-value');
  if (route.params) kinds.push('bad-param');
  if (kinds.length === 0) kinds.push('unknown-query');
  const kind = kinds[n % kinds.length] as MalformedKind;

  let pathPart = urlPath;
  for (const [name, value] of Object.entries(route.params ?? {})) {
    const v = kind === 'bad-param' ? pick(BAD_PARAM) : encodeURIComponent(value).replace(/%2F/g, '/');
    pathPart = pathPart.replace(name === '*' ? '*' : `:${name}`, v);
  }
  const query = new URLSearchParams();
  for (const [k, [v]] of Object.entries(route.query ?? {})) query.set(k, v);
  let field: string | undefined;
  if (kind === 'unknown-query') {
    field = `zz_chaos_${n % 100}`;
    query.set(field, '1');
  }
  let rawQuery = query.toString();
  if (kind === 'bad-query-value') {
    const typed = Object.entries(route.query ?? {}).filter(([, [, k]]) => BAD_QUERY[k].length > 0);
    const [name, [, qk]] = pick(
      typed.length ? typed : [['limit', ['x', 'int']] as [string, [string, QueryKind]]],
    );
    field = name;
    const q = new URLSearchParams(rawQuery);
    q.delete(name);
    rawQuery = `${q.toString()}${q.toString() ? '&' : ''}${name}=${pick(BAD_QUERY[qk])}`;
  }
  const url = `${pathPart}${rawQuery ? `?${rawQuery}` : ''}`;
  const json = { ...headers, 'content-type': 'application/json' };
  switch (kind) {
    case 'json-syntax':
      return { kind, method: route.method, url, headers: json, body: pick(JSON_SYNTAX) };
    case 'not-object':
      return { kind, method: route.method, url, headers: json, body: pick(NOT_OBJECT) };
    case 'unknown-field': {
      field = `zz_chaos_${n % 100}`;
      return {
        kind,
        method: route.method,
        url,
        headers: json,
        body: JSON.stringify({ ...route.body, [field]: n }),
        field,
      };
    }
    case 'wrong-type': {
      const body = { ...route.body };
      const keys = Object.keys(body);
      const key = pick(keys);
      body[key] = pick(WRONG[typeOf(body[key])] ?? WRONG.string ?? []);
      return { kind, method: route.method, url, headers: json, body: JSON.stringify(body), field: key };
    }
    case 'content-type':
      return {
        kind,
        method: route.method,
        url,
        headers: {
          ...headers,
          'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'application/xml']),
        },
        body: JSON.stringify(route.body),
      };
    case 'oversize':
      return {
        kind,
        method: route.method,
        url,
        headers: json,
        body: JSON.stringify({ ...route.body, pad: 'x'.repeat(1_100_000) }),
      };
    default:
      return { kind, method: route.method, url, headers, ...(field && { field }) };
  }
}

export interface Verdict {
  ok: boolean;
  why?: string;
  /** critical: a 5xx, no answer, or malformed input accepted; convention: a 4xx not in the envelope or not naming the field. */
  severity?: 'critical' | 'convention';
}

/**
 * A malformed request must get a 4xx with the error envelope; a 400 on a field must name it;
 * never a 5xx, never silence, never a 2xx (malformed input accepted).
 */
export function judge(
  req: MalformedRequest,
  status: number,
  body: unknown,
  routeTakesInput: boolean,
): Verdict {
  if (status === 0) return { ok: false, why: 'no answer', severity: 'critical' };
  if (status >= 500) return { ok: false, why: `${status}`, severity: 'critical' };
  if (status < 400) {
    // A route without inputs may ignore an unknown query field; anything else accepted is a defect.
    if (!routeTakesInput && req.kind === 'unknown-query') return { ok: true };
    return { ok: false, why: `${status} (malformed input accepted)`, severity: 'critical' };
  }
  const err = (body as { error?: { code?: unknown; details?: { field?: unknown } } } | null)?.error;
  if (typeof err?.code !== 'string')
    return { ok: false, why: `${status} without the error envelope`, severity: 'convention' };
  if (status === 400 && req.field) {
    const named = err.details?.field;
    if (typeof named !== 'string' || !named || named === '(root)')
      return { ok: false, why: `400 ${err.code} without the field (${req.field}) named` };
    if (named.split(/[.[]/)[0] !== req.field.split('.')[0])
      return { ok: false, why: `400 names ${named}, not ${req.field}` };
  }
  return { ok: true };
}
