import { setTimeout as sleep } from 'node:timers/promises';
import { CONNECTION_STATES, type ConnectionState } from '../../domain/connection.js';
import type { Gap } from '../../domain/gaps.js';
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../kernel/metrics.js';

export type CaptureMetrics = ReturnType<typeof createCaptureMetrics>;

/** data-capture's metrics, `tradingsystem_data_capture_*`. */
export function createCaptureMetrics(registry: Registry) {
  const registers = [registry];
  const connectionState = new Gauge({
    name: 'tradingsystem_data_capture_connection_state',
    help: 'Broker connection state: 1 for the current state, 0 for the others',
    labelNames: ['state'] as const,
    registers,
  });
  const gaps = new Gauge({
    name: 'tradingsystem_data_capture_gaps',
    help: 'Trade-number gaps by state (open, filled, skipped)',
    labelNames: ['state'] as const,
    registers,
  });
  const callbacks = new Counter({
    name: 'tradingsystem_data_capture_callbacks_total',
    help: 'Broker market-data callbacks handled, by kind (trade, quote) and result (ok, error: the handler threw)',
    labelNames: ['kind', 'result'] as const,
    registers,
  });
  // Every series from 0: an error rate is 0, not "no data", before the first error.
  for (const kind of ['trade', 'quote'])
    for (const result of ['ok', 'error']) callbacks.inc({ kind, result }, 0);
  return {
    callbacks,
    received: new Counter({
      name: 'tradingsystem_data_capture_trades_received_total',
      help: 'Trades received from the broker, live or from history requests',
      labelNames: ['ticker', 'source'] as const,
      registers,
    }),
    persisted: new Counter({
      name: 'tradingsystem_data_capture_trades_persisted_total',
      help: 'Trades written to the journal',
      labelNames: ['ticker'] as const,
      registers,
    }),
    dropped: new Counter({
      name: 'tradingsystem_data_capture_trades_dropped_total',
      help: 'Trades not kept: duplicates, from a past session, or unwritable (backfilled later)',
      labelNames: ['ticker', 'reason'] as const,
      registers,
    }),
    droppedQuotes: new Counter({
      name: 'tradingsystem_data_capture_quotes_dropped_total',
      help: 'Quotes not kept because the journal could not be written',
      registers,
    }),
    journalLostSeqs: new Gauge({
      name: 'tradingsystem_data_capture_journal_lost_records',
      help: 'Journal records found damaged at start that neither the journal nor Parquet hold (their trades are backfilled)',
      registers,
    }),
    journalWritable: new Gauge({
      name: 'tradingsystem_data_capture_journal_writable',
      help: '1 while the journal can be written; 0 while the disk refuses it (full, read-only, fsync failing)',
      registers,
    }),
    fsyncSeconds: new Histogram({
      name: 'tradingsystem_data_capture_journal_fsync_seconds',
      help: 'Time of one journal fdatasync',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    callbackSeconds: new Histogram({
      name: 'tradingsystem_data_capture_callback_seconds',
      help: 'Time spent handling one broker callback (trade or quote)',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    journalSeq: new Gauge({
      name: 'tradingsystem_data_capture_journal_seq',
      help: 'Journal position: written (in the file) and durable (fsynced)',
      labelNames: ['kind'] as const,
      registers,
    }),
    conversions: new Counter({
      name: 'tradingsystem_data_capture_parquet_conversions_total',
      help: 'Journal segments converted to Parquet, by result',
      labelNames: ['result'] as const,
      registers,
    }),
    pendingSegments: new Gauge({
      name: 'tradingsystem_data_capture_parquet_pending_segments',
      help: 'Sealed journal segments not yet in Parquet',
      registers,
    }),
    reconnects: new Counter({
      name: 'tradingsystem_data_capture_broker_reconnects_total',
      help: 'Reconnect attempts to the broker (after a drop, a stall or a failed attempt)',
      registers,
    }),
    escalated: new Gauge({
      name: 'tradingsystem_data_capture_broker_escalated',
      help: '1 while the broker connection is impaired beyond the escalation limit',
      registers,
    }),
    setConnectionState(state: ConnectionState) {
      for (const s of CONNECTION_STATES) connectionState.set({ state: s }, s === state ? 1 : 0);
    },
    setGaps(all: Gap[]) {
      const counts = { open: 0, filled: 0, skipped: 0 };
      for (const g of all) counts[g.state] += 1;
      for (const [state, n] of Object.entries(counts)) gaps.set({ state }, n);
    },
  };
}

/**
 * DuckDB's own account of its memory, by tag: the part of data-capture's RSS outside V8 that the
 * store's `memory_limit` bounds. Asked at scrape time behind the store's queue; a scrape that
 * would wait on a conversion for more than a second reports the previous figures.
 */
export function registerDuckdbMemory(
  registry: Registry,
  store: { duckdbMemory(): Promise<Record<string, number>> },
): void {
  let last: Record<string, number> = {};
  new Gauge({
    name: 'tradingsystem_data_capture_duckdb_memory_bytes',
    help: 'Memory DuckDB reports in use, by tag (tables, buffers, caches)',
    labelNames: ['tag'] as const,
    registers: [registry],
    async collect() {
      const asked = store.duckdbMemory().then(
        (m) => {
          last = m;
        },
        () => {},
      );
      await Promise.race([asked, sleep(1_000, undefined, { ref: false })]);
      this.reset();
      for (const [tag, bytes] of Object.entries(last)) this.set({ tag }, bytes);
    },
  });
}

/** The query tail's size: trades held in memory until their segment is in Parquet. */
export function registerQueryTail(registry: Registry, store: { readonly tailTrades: number }): void {
  new Gauge({
    name: 'tradingsystem_data_capture_query_tail_trades',
    help: 'Trades journaled but not yet in Parquet, held in memory for queries',
    registers: [registry],
    collect() {
      this.set(store.tailTrades);
    },
  });
}
