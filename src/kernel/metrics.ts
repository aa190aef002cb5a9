import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, collectDefaultMetrics, Gauge, Histogram, Registry };

/** Latency buckets in seconds, from 100 µs (the tick path) to 10 s (a hung upstream). */
export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export interface ServiceMetrics {
  registry: Registry;
  httpDuration: Histogram<'service' | 'method' | 'route' | 'status'>;
}

/** A registry per service process with the default process metrics and the HTTP request histogram. */
export function createMetrics(): ServiceMetrics {
  const registry = new Registry();
  collectProcessMetrics(registry);
  const httpDuration = new Histogram({
    name: 'tradingsystem_http_request_duration_seconds',
    help: 'HTTP request duration by service, method, route template and status code',
    labelNames: ['service', 'method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return { registry, httpDuration };
}

let liveHeapBytes = Number.NaN;
let liveHeapObserver: PerformanceObserver | undefined;

/**
 * prom-client's default process metrics plus `tradingsystem_heap_live_bytes`: the V8 heap in use
 * just after the last major collection. Heap used at scrape time swings with the collector's
 * timing (tens of MB in a busy service); the live set after a mark-compact is what a leak moves.
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  if (!liveHeapObserver) {
    liveHeapObserver = new PerformanceObserver((list) => {
      const major = list
        .getEntries()
        .some(
          (e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR,
        );
      if (major) liveHeapBytes = getHeapStatistics().used_heap_size;
    });
    liveHeapObserver.observe({ entryTypes: ['gc'] });
  }
  new Gauge({
    name: 'tradingsystem_heap_live_bytes',
    help: 'V8 heap in use just after the last major (mark-compact) collection: the live set, whose trend shows a leak',
    registers: [registry],
    collect() {
      // Before the first major collection, the heap in use now: an upper bound of the live set.
      this.set(Number.isFinite(liveHeapBytes) ? liveHeapBytes : getHeapStatistics().used_heap_size);
    },
  });
}
