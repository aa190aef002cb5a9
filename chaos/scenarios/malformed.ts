import { internalHeaders } from '../../src/kernel/internal-auth.js';
import { bringUp, finish } from '../lib/harness.js';
import {
  GATEWAY_ROUTES,
  INTERNAL_ROUTES,
  judge,
  type MalformedKind,
  malformedRequest,
  norm,
  type RouteCase,
  routeFileCoverage,
  upstreamOf,
} from '../lib/malformed.js';
import type { Scenario } from '../lib/scenario.js';
import type { ChaosSystem, ServiceName } from '../lib/system.js';
import { secs } from '../lib/util.js';

interface Endpoint {
  service: ServiceName;
  /** What is called: the service's own route, or the gateway's. */
  via: ServiceName;
  method: string;
  path: string;
  route: RouteCase;
}

/** Every endpoint: the services' routes directly, and every gateway route (from its OpenAPI). */
async function endpoints(sys: ChaosSystem, ctxProblems: string[]): Promise<Endpoint[]> {
  const out: Endpoint[] = INTERNAL_ROUTES.map((r) => ({
    service: r.service,
    via: r.service,
    method: r.method,
    path: r.path,
    route: r,
  }));
  const spec = (await sys.call('gateway', 'GET', '/api/v1/openapi.json')).body as {
    paths?: Record<string, Record<string, unknown>>;
  };
  for (const [p, methods] of Object.entries(spec?.paths ?? {})) {
    for (const m of Object.keys(methods)) {
      const method = m.toUpperCase();
      const own = GATEWAY_ROUTES.find((r) => r.method === method && norm(r.path) === norm(p));
      if (own) {
        out.push({ service: 'gateway', via: 'gateway', method, path: own.path, route: own });
        continue;
      }
      const up = upstreamOf(p);
      const route =
        up &&
        INTERNAL_ROUTES.find(
          (r) => r.service === up.service && r.method === method && norm(r.path) === norm(up.path),
        );
      if (!route) {
        ctxProblems.push(`gateway ${method} ${p}: no case in the catalogue`);
        continue;
      }
      const gatewayPath = p.replace(/\{([^}]+)\}/g, (_, name: string) => (name === '*' ? '*' : `:${name}`));
      out.push({
        service: route.service,
        via: 'gateway',
        method,
        path: gatewayPath,
        route: { ...route, path: gatewayPath },
      });
    }
  }
  return out;
}

export const malformed: Scenario = {
  name: 'malformed-requests',
  title:
    'malformed requests to every route of every service (direct and through the gateway): 4xx naming the field, never a 5xx, never a crash',
  findings: [],
  profiles: ['short', 'full'],
  budgetMs: (p) => (p === 'short' ? 150_000 : 600_000),
  async run(ctx) {
    const perEndpoint = ctx.pick(60, 1_000);
    const r = await bringUp(ctx, {
      name: 'malformed',
      marketMs: ctx.pick(22_000, 240_000),
      config: {
        services: {
          gateway: {
            readsPerMinute: 10_000_000,
            ordersPerMinute: 10_000_000,
            authFailuresPerMinute: 1_000_000,
            ideaWritesPerMinute: 10_000_000,
          },
        },
      },
    });
    const before = await r.sys.status();
    const key = r.sys.adminKey();
    const limits = (await r.sys.call('order-manager', 'GET', '/api/risk/limits')).body?.data;
    for (const c of INTERNAL_ROUTES) if (c.path === '/api/risk/limits' && c.method === 'PUT') c.body = limits;

    // Coverage: every route in the route files and in the OpenAPI has a case.
    const problems: string[] = [];
    const list = await endpoints(r.sys, problems);
    for (const f of routeFileCoverage()) {
      if (
        ![...INTERNAL_ROUTES, ...GATEWAY_ROUTES].some(
          (c) => c.method === f.method && norm(c.path) === norm(f.path),
        )
      )
        problems.push(`${f.method} ${f.path} (${f.file}): no case in the catalogue`);
    }
    ctx.check(
      'every route of every service (route files and the gateway OpenAPI) is covered',
      problems.length === 0 && list.length > 0,
      problems.length ? problems.join('; ') : `${list.length} endpoints`,
      { endpoints: list.length, uncovered: problems },
    );

    const t = Date.now();
    const failures: Record<string, { count: number; severity: string; example: string }> = {};
    const byKind: Record<string, number> = {};
    let sent = 0;
    const jobs = list.flatMap((e) => Array.from({ length: perEndpoint }, (_, n) => ({ e, n })));
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < jobs.length; i = next++) {
        const { e, n } = jobs[i] as { e: Endpoint; n: number };
        const headers: Record<string, string> =
          e.via === 'gateway' ? { 'x-api-key': key } : internalHeaders(r.sys.home);
        const req = malformedRequest(e.route, e.path, n, headers);
        byKind[req.kind] = (byKind[req.kind] ?? 0) + 1;
        let status = 0;
        let body: unknown = null;
        try {
          const res = await fetch(r.sys.url(e.via, req.url), {
            method: req.method,
            headers: req.headers,
            ...(req.body !== undefined && { body: req.body }),
            signal: AbortSignal.timeout(10_000),
          });
          status = res.status;
          const text = await res.text();
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
        } catch {
          status = 0;
        }
        sent += 1;
        const takesInput = Boolean(e.route.body || e.route.query || e.route.params);
        const v = judge(req, status, body, takesInput);
        if (!v.ok) {
          const k = `${e.via === 'gateway' ? 'gateway ' : ''}${e.method} ${e.path} ${req.kind as MalformedKind}: ${v.why}`;
          failures[k] ??= {
            count: 0,
            severity: v.severity ?? 'critical',
            example: `${req.method} ${req.url.slice(0, 120)} ${String(req.body ?? '').slice(0, 80)} -> ${JSON.stringify(body).slice(0, 160)}`,
          };
          failures[k].count += 1;
        }
      }
    };
    await Promise.all(Array.from({ length: 12 }, worker));
    const ms = Date.now() - t;
    ctx.note('malformed', { perEndpoint, endpoints: list.length, sent, byKind, ms });
    ctx.log(`${sent} malformed requests in ${secs(ms)}`);
    const all = Object.entries(failures).sort((a, b) => b[1].count - a[1].count);
    for (const severity of ['critical', 'convention'] as const) {
      const fail = all.filter(([, f]) => f.severity === severity);
      const failed = fail.reduce((a, [, f]) => a + f.count, 0);
      ctx.check(
        severity === 'critical'
          ? `${perEndpoint} malformed requests per endpoint: never a 5xx, never silence, never accepted`
          : 'every refusal is a 4xx in the error envelope, naming the field at fault',
        failed === 0 && sent === jobs.length,
        failed === 0
          ? `${sent} requests on ${list.length} endpoints`
          : `${failed} of ${sent} on ${fail.length} (endpoint, kind) pairs; worst: ${fail
              .slice(0, 6)
              .map(([k, f]) => `${k} ×${f.count}`)
              .join(' | ')}`,
        { sent, failed, failures: Object.fromEntries(fail.slice(0, 40)) },
      );
    }
    const after = await r.sys.status();
    const crashed = (after?.processes ?? []).filter((p) => {
      const b = before?.processes.find((x) => x.name === p.name);
      return !b || b.pid !== p.pid || b.restarts !== p.restarts;
    });
    ctx.check(
      'no service crashed or restarted under the malformed requests',
      after !== null && crashed.length === 0,
      crashed.length
        ? crashed.map((p) => `${p.name} pid ${p.pid} restarts ${p.restarts}`).join(', ')
        : 'same pids, no restart',
    );
    await finish(ctx, r);
  },
};
