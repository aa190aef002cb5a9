import { Counter, Gauge, type Registry } from '../metrics.js';

/** What the scrape-time gauges read from a live feed server. */
export interface FeedGaugeSource {
  readonly name: string;
  readonly clientCount: number;
  readonly lastSeq: number;
  /** Max over connections of lastSeq − the connection's sent seq. */
  readonly maxLag: number;
}

export interface FeedMetrics {
  recordsSent: Counter.Internal;
  historyReads: Counter.Internal;
  /** Unregisters the source (its gauge series disappear); counters keep their totals. */
  release(): void;
}

interface MetricSet {
  sources: Map<string, FeedGaugeSource>;
  recordsSent: Counter<'feed'>;
  historyReads: Counter<'feed'>;
  gauges: Gauge<'feed'>[];
}

// One set of metric objects per registry: a service may run several feeds (market data and
// order events) on one registry, and prom-client refuses a second metric with the same name.
const sets = new WeakMap<Registry, MetricSet>();

export function feedMetrics(registry: Registry, source: FeedGaugeSource): FeedMetrics {
  const set = sets.get(registry) ?? createSet(registry);
  if (set.sources.has(source.name)) throw new Error(`a feed named '${source.name}' is already registered`);
  set.sources.set(source.name, source);
  const feed = { feed: source.name };
  return {
    recordsSent: set.recordsSent.labels(feed),
    historyReads: set.historyReads.labels(feed),
    release() {
      set.sources.delete(source.name);
      for (const g of set.gauges) g.remove(feed);
    },
  };
}

function createSet(registry: Registry): MetricSet {
  const sources = new Map<string, FeedGaugeSource>();
  // Gauges are computed at scrape time so the publish path does no metric work for them.
  const gauge = (name: string, help: string, read: (s: FeedGaugeSource) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['feed'] as const,
      registers: [registry],
      collect() {
        for (const s of sources.values()) this.set({ feed: s.name }, read(s));
      },
    });
  const set: MetricSet = {
    sources,
    recordsSent: new Counter({
      name: 'tradingsystem_feed_records_sent_total',
      help: 'Feed records written to client connections (each record counted once per connection)',
      labelNames: ['feed'] as const,
      registers: [registry],
    }),
    historyReads: new Counter({
      name: 'tradingsystem_feed_history_reads_total',
      help: 'Catch-up reads from the feed history (a client was behind the in-memory ring)',
      labelNames: ['feed'] as const,
      registers: [registry],
    }),
    gauges: [
      gauge('tradingsystem_feed_clients', 'Connected feed clients', (s) => s.clientCount),
      gauge(
        'tradingsystem_feed_lag_records',
        'Largest number of records a connected client is behind the last published seq',
        (s) => s.maxLag,
      ),
      gauge('tradingsystem_feed_last_seq', 'Last published seq of the feed', (s) => s.lastSeq),
    ],
  };
  sets.set(registry, set);
  return set;
}
