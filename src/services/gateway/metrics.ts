import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import { LOOPBACK } from '../../kernel/client-ip.js';
import { fail } from '../../kernel/errors.js';
import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from '../../kernel/metrics.js';

export interface GatewayMetrics {
  upstreamDuration: Histogram<'service' | 'status'>;
  upstreamFailures: Counter<'service' | 'reason'>;
}

export function gatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    upstreamDuration: new Histogram({
      name: 'tradingsystem_gateway_upstream_duration_seconds',
      help: 'Time to get a whole answer from an upstream service, by service and status',
      labelNames: ['service', 'status'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    upstreamFailures: new Counter({
      name: 'tradingsystem_gateway_upstream_failures_total',
      help: 'Upstream calls that got no answer, by service and reason (timeout, unreachable)',
      labelNames: ['service', 'reason'] as const,
      registers: [registry],
    }),
  };
}

/**
 * The gateway is the one exposed service, and its metrics name keys and routes: `/metrics` answers
 * a loopback peer (Prometheus on this host), or anyone with the scrape token (from
 * `metricsTokenFile`, sent as `Authorization: Bearer`). `req.ip` is the client behind a trusted
 * proxy, so a proxy on loopback does not make every client local.
 */
export function metricsGuard(token: string | null) {
  const expected = token === null ? null : digest(token);
  return async (req: FastifyRequest) => {
    if (LOOPBACK.has(req.ip)) return;
    const presented = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (expected && presented && timingSafeEqual(digest(presented), expected)) return;
    throw fail.METRICS_FORBIDDEN();
  };
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** The scrape token of `metricsTokenFile` (relative to the data home), or null when none is configured. */
export function readMetricsToken(file: string, home: string): string | null {
  if (!file) return null;
  const token = readFileSync(path.resolve(home, file), 'utf8').trim();
  if (token.length < 16)
    throw new Error(`services.gateway.metricsTokenFile: the token must be at least 16 characters`);
  return token;
}
