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
