import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../kernel/metrics.js';
import type { HandbookState } from './load.js';

export interface DocsMetrics {
  searches: Counter;
  searchDuration: Histogram;
  /** Sets the document gauge from a freshly loaded handbook. */
  loaded(state: HandbookState): void;
}

export function createDocsMetrics(registry: Registry): DocsMetrics {
  const documents = new Gauge({
    name: 'tradingsystem_docs_documents',
    help: 'Handbook pages in the loaded index (valid) and pages refused for bad frontmatter (invalid)',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const searches = new Counter({
    name: 'tradingsystem_docs_searches_total',
    help: 'Handbook searches answered',
    registers: [registry],
  });
  const searchDuration = new Histogram({
    name: 'tradingsystem_docs_search_duration_seconds',
    help: 'Time to run one handbook search',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    searches,
    searchDuration,
    loaded(state) {
      documents.set({ status: 'valid' }, state.docs.size);
      documents.set({ status: 'invalid' }, state.invalid.length);
    },
  };
}
