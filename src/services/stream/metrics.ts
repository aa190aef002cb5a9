import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../kernel/metrics.js';
import type { Hub } from './hub.js';
import type { Input } from './inputs.js';

/**
 * The stream's metrics, `tradingsystem_stream_*`. Everything is read from the hub's and the inputs'
 * plain counters at scrape time, so the delivery path does no metric work.
 */
export function createStreamMetrics(registry: Registry, hub: Hub, inputs: readonly Input<unknown>[]) {
  const registers = [registry];
  /** A counter whose value is a running total kept elsewhere. */
  const total = <L extends string>(
    name: string,
    help: string,
    label: L,
    read: () => Record<string, number>,
  ) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect() {
        this.reset();
        for (const [value, n] of Object.entries(read())) if (n > 0) this.inc({ [label]: value } as never, n);
      },
    });
  new Gauge({
    name: 'tradingsystem_stream_clients',
    help: 'Connected WebSocket clients',
    registers,
    collect() {
      this.set(hub.clientCount);
    },
  });
  new Gauge({
    name: 'tradingsystem_stream_subscriptions',
    help: 'Channel subscriptions over all clients',
    registers,
    collect() {
      this.set(hub.subscriptionCount);
    },
  });
  total(
    'tradingsystem_stream_messages_out_total',
    'Messages delivered to clients (written or queued), by channel kind; replies are kind "reply"',
    'kind',
    () => hub.counters.messagesOut,
  );
  total(
    'tradingsystem_stream_conflated_total',
    'Market-data messages a client that was behind did not get because a newer one replaced them',
    'kind',
    () => hub.counters.conflated,
  );
  total(
    'tradingsystem_stream_disconnects_total',
    'Clients disconnected by the server: slow (queue over maxQueuedBytes), heartbeat (no pong), revoked (key revoked) or expired (browser session ended)',
    'reason',
    () => hub.counters.disconnects,
  );
  total(
    'tradingsystem_stream_upgrades_refused_total',
    'WebSocket upgrades refused: blocked (429, IP past its failure limit), busy (503, too many handshakes) or capped (429, per-key or per-IP connection cap)',
    'reason',
    () => hub.counters.refused,
  );
  new Counter({
    name: 'tradingsystem_stream_auth_failures_total',
    help: 'WebSocket upgrades refused with 401',
    registers,
    collect() {
      this.reset();
      this.inc(hub.counters.authFailures);
    },
  });
  new Gauge({
    name: 'tradingsystem_stream_input_connected',
    help: '1 while the input feed (market, orders) is connected',
    labelNames: ['input'],
    registers,
    collect() {
      for (const i of inputs) this.set({ input: i.name }, i.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tradingsystem_stream_input_seq',
    help: 'Last seq received from the input feed',
    labelNames: ['input'],
    registers,
    collect() {
      for (const i of inputs) this.set({ input: i.name }, i.lastSeq ?? 0);
    },
  });
  new Gauge({
    name: 'tradingsystem_stream_input_lag_records',
    help: 'Records the input feed had (at its last hello) that the stream has not received',
    labelNames: ['input'],
    registers,
    collect() {
      for (const i of inputs) this.set({ input: i.name }, i.behind);
    },
  });
  return {
    /** data-capture receiving a trade → the stream publishing it, sampled once per feed batch. */
    marketDelay: new Histogram({
      name: 'tradingsystem_stream_input_delay_seconds',
      help: 'From data-capture receiving a market event to the stream publishing it (newest event of each batch)',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  };
}
