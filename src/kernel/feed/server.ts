import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { fail } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Registry } from '../metrics.js';
import type { App } from '../service.js';
import { Broadcaster, Peer } from '../ws/broadcaster.js';
import { type FeedMetrics, feedMetrics } from './metrics.js';
import {
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  encodeBatch,
  encodeHello,
  encodeRecord,
  type FeedHistory,
  type FeedRecord,
  parseFrom,
} from './protocol.js';
import { type Frame, Ring } from './ring.js';
import { refuseUpgrade } from './upgrade.js';

export interface FeedServerOptions<T> {
  /** The `feed` label of the metrics and the `feed` field of the log lines. */
  name: string;
  history: FeedHistory<T>;
  logger: Logger;
  registry: Registry;
  /** Records kept in memory for live frames and fast resume (default 65,536). */
  ringSize?: number;
  /** Socket buffer above which a connection gets no live pushes and catches up as it drains (default 4 MiB). */
  maxBufferedBytes?: number;
  /** Most records in one frame and in one history read (default 1,000). */
  maxBatchRecords?: number;
  /** Ping period; a peer that has not answered the previous ping is terminated (default 15 s, 0 = off). */
  pingIntervalMs?: number;
  /** At close(), how long a peer has to answer the close frame before its socket is destroyed (default 2 s). */
  closeTimeoutMs?: number;
}

export type ConnectionMode = 'live' | 'catchup';

export interface FeedConnectionStats {
  id: number;
  remoteAddress: string;
  connectedAt: number;
  mode: ConnectionMode;
  /** Last seq written to this connection. */
  sentSeq: number;
  lag: number;
  recordsSent: number;
  framesSent: number;
  historyReads: number;
  /** Times it was taken off live pushes because its socket buffer was over maxBufferedBytes. */
  slowEvents: number;
  bufferedAmount: number;
  /** Largest socket buffer seen right after a write; bounded by maxBufferedBytes + one frame. */
  maxBufferedAmount: number;
  maxFrameBytes: number;
}

export interface FeedServerStats {
  name: string;
  lastSeq: number;
  ring: { first: number; last: number; size: number; capacity: number };
  outOfOrderPublishes: number;
  connections: FeedConnectionStats[];
}

/** Catch-up frames written per connection per event-loop turn, so one resuming client cannot hog it. */
const CATCHUP_FRAMES_PER_TURN = 8;

class Connection extends Peer {
  mode: ConnectionMode = 'live';
  pumping = false;
  historyReads = 0;
  slowEvents = 0;
  readonly connectedAt = Date.now();

  constructor(
    id: number,
    ws: WebSocket,
    readonly remoteAddress: string,
    /** Last seq written to the socket. */
    public sent: number,
  ) {
    super(id, ws);
  }
}

class HistoryGapError extends Error {}

/**
 * The producer side of a resumable, seq-numbered feed over WebSocket. `publish` appends to an
 * in-memory ring and pushes to caught-up connections once per event-loop turn; a connection that
 * is behind (resuming or slow) is fed from the ring, else from the history, as its socket drains,
 * then rejoins live pushes. Per connection nothing is queued beyond the socket buffer.
 */
export class FeedServer<T> {
  readonly name: string;
  private readonly history: FeedHistory<T>;
  private readonly logger: Logger;
  private readonly ring: Ring;
  private readonly maxBatch: number;
  private readonly closeTimeoutMs: number;
  private readonly metrics: FeedMetrics;
  /** Connections; this turn's records go out once, at its end, in frames shared by start seq. */
  private readonly broadcaster: Broadcaster<Connection, number, Frame[]>;
  private last: number;
  private outOfOrder = 0;
  private closing: Promise<void> | undefined;

  constructor(opts: FeedServerOptions<T>) {
    this.name = opts.name;
    this.history = opts.history;
    this.logger = opts.logger.child({ feed: opts.name });
    this.maxBatch = opts.maxBatchRecords ?? 1_000;
    this.ring = new Ring(opts.ringSize ?? 65_536, this.maxBatch);
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 2_000;
    this.broadcaster = new Broadcaster({
      maxPayload: 4096,
      maxBufferedBytes: opts.maxBufferedBytes ?? 4 * 1024 * 1024,
      pingIntervalMs: opts.pingIntervalMs ?? 15_000,
      flush: () => this.flush(),
      // A written frame is the "drain" that resumes catch-up.
      onWritten: (c) => {
        if (c.mode === 'catchup') this.pump(c);
      },
      onClose: (c, code) =>
        this.logger.info(
          { event: 'feed.client_closed', conn: c.id, code, sentSeq: c.sent, records: c.messagesSent },
          'feed client disconnected',
        ),
      onHeartbeatTimeout: (c) =>
        this.logger.warn(
          { event: 'feed.heartbeat_timeout', conn: c.id },
          'feed client missed a pong; terminating',
        ),
    });
    this.last = this.history.lastSeq();
    if (!Number.isSafeInteger(this.last) || this.last < 0)
      throw new RangeError('history.lastSeq() must be ≥ 0');
    this.metrics = feedMetrics(opts.registry, this);
  }

  get lastSeq(): number {
    return this.last;
  }

  get clientCount(): number {
    return this.broadcaster.peerCount;
  }

  get maxLag(): number {
    let lag = 0;
    for (const c of this.broadcaster.peers) lag = Math.max(lag, this.last - c.sent);
    return lag;
  }

  /**
   * Serves the feed at `path` on the app's HTTP server. Call it in the service's setup (it adds a
   * preClose hook, so open feed sockets do not hold the HTTP server's close).
   */
  attach(app: App, path: string): void {
    this.broadcaster.attach(
      app,
      path,
      (req, socket, head, url) => this.upgrade(req, socket, head, url),
      () => this.close(),
    );
  }

  /**
   * The hot path: O(1) append to the ring; connections get it in this turn's frame. `dataJson`:
   * the record's data already as JSON, when the producer made it anyway (its journal did).
   */
  publish(record: FeedRecord<T>, dataJson?: string): void {
    const seq = record.seq;
    if (!(Number.isSafeInteger(seq) && seq > this.last)) {
      // A producer bug, not a reason to crash the producer: count it and say so (rate-limited).
      if (this.outOfOrder++ % 10_000 === 0) {
        this.logger.warn(
          { event: 'feed.publish_out_of_order', seq, lastSeq: this.last, count: this.outOfOrder },
          'feed publish ignored: seq not above the last one',
        );
      }
      return;
    }
    if (seq !== this.last + 1) {
      // Connections behind the new ring start catch up from the history, which has the skipped seqs.
      this.logger.warn({ event: 'feed.publish_gap', seq, lastSeq: this.last }, 'feed publish skipped seqs');
    }
    this.ring.push(seq, encodeRecord(record, dataJson));
    this.last = seq;
    if (this.broadcaster.peerCount > 0) this.broadcaster.schedule();
  }

  stats(): FeedServerStats {
    return {
      name: this.name,
      lastSeq: this.last,
      ring: {
        first: this.ring.first,
        last: this.ring.last,
        size: this.ring.size,
        capacity: this.ring.capacity,
      },
      outOfOrderPublishes: this.outOfOrder,
      connections: [...this.broadcaster.peers].map((c) => ({
        id: c.id,
        remoteAddress: c.remoteAddress,
        connectedAt: c.connectedAt,
        mode: c.mode,
        sentSeq: c.sent,
        lag: Math.max(0, this.last - c.sent),
        recordsSent: c.messagesSent,
        framesSent: c.framesSent,
        historyReads: c.historyReads,
        slowEvents: c.slowEvents,
        bufferedAmount: c.ws.bufferedAmount,
        maxBufferedAmount: c.maxBufferedAmount,
        maxFrameBytes: c.maxFrameBytes,
      })),
    };
  }

  /** Closes every connection with 1001 and stops taking new ones. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.broadcaster.closeAll(CLOSE_GOING_AWAY, 'server shutting down', this.closeTimeoutMs);
      this.metrics.release();
    })();
    return this.closing;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    if (this.closing) {
      refuseUpgrade(socket, fail.FEED_CLOSED(`feed ${this.name} is shutting down`));
      return;
    }
    const from = parseFrom(url.searchParams, this.last);
    if (!from.ok) {
      refuseUpgrade(socket, fail.INVALID_FROM(from.message));
      return;
    }
    this.broadcaster.accept(req, socket, head, (ws, id) =>
      this.connected(new Connection(id, ws, req.socket.remoteAddress ?? '', from.from ?? this.last)),
    );
  }

  private connected(c: Connection): void {
    const { ws, remoteAddress, sent: from } = c;
    this.broadcaster.add(c);
    ws.on('error', (err) => this.logger.debug({ err, conn: c.id }, 'feed connection error'));
    ws.send(encodeHello(this.last), c.onWritten);
    this.logger.info(
      { event: 'feed.client_connected', conn: c.id, remoteAddress, from, lastSeq: this.last },
      'feed client connected',
    );
    if (c.sent < this.last) this.toCatchup(c, false);
  }

  /** Once per turn: the records published since, to every caught-up connection. */
  private flush(): void {
    this.ring.seal(); // this turn's records become one segment
    // Caught-up connections share a start seq, so each distinct frame is built once per turn.
    const byStart = this.broadcaster.sharedFrames;
    for (const c of this.broadcaster.peers) {
      if (c.mode !== 'live' || c.sent >= this.last) continue;
      const next = c.sent + 1;
      if (!this.ring.has(next)) {
        this.toCatchup(c, false);
        continue;
      }
      let frames = byStart.get(next);
      if (!frames) {
        frames = [];
        for (let f = this.ring.frame(next); f; f = this.ring.frame(f.last + 1)) frames.push(f);
        byStart.set(next, frames);
      }
      for (const f of frames) {
        if (this.broadcaster.isBehind(c)) {
          this.toCatchup(c, true);
          break;
        }
        this.write(c, f);
      }
    }
  }

  private toCatchup(c: Connection, slow: boolean): void {
    c.mode = 'catchup';
    if (slow) {
      c.slowEvents++;
      this.logger.debug(
        { conn: c.id, buffered: c.ws.bufferedAmount },
        'feed client slow; catching up as it drains',
      );
    }
    this.pump(c);
  }

  private pump(c: Connection): void {
    if (c.pumping || c.closed || c.mode !== 'catchup') return;
    c.pumping = true;
    this.catchUp(c).then(
      (next) => {
        c.pumping = false;
        if (next === 'yield') setImmediate(() => this.pump(c));
        // A frame written while we awaited the history may have drained already: look again.
        else if (next === 'wait' && this.broadcaster.hasDrained(c)) this.pump(c);
      },
      (err: unknown) => {
        c.pumping = false;
        this.failConnection(c, err);
      },
    );
  }

  private async catchUp(c: Connection): Promise<'wait' | 'yield' | 'done'> {
    for (let i = 0; i < CATCHUP_FRAMES_PER_TURN; i++) {
      if (c.closed) return 'done';
      if (c.sent >= this.last) {
        c.mode = 'live';
        return 'done';
      }
      // Resumed by the write callback of a frame already in the buffer.
      if (!this.broadcaster.hasDrained(c)) return 'wait';
      const next = c.sent + 1;
      const frame = this.ring.frame(next) ?? (await this.historyFrame(c, next));
      if (c.closed) return 'done';
      this.write(c, frame);
    }
    return 'yield';
  }

  private async historyFrame(c: Connection, next: number): Promise<Frame> {
    const records = await this.history.read(next - 1, this.maxBatch);
    c.historyReads++;
    this.metrics.historyReads.inc();
    const parts: string[] = [];
    let expect = next;
    for (const r of records) {
      if (r.seq < expect) continue;
      if (r.seq !== expect || parts.length >= this.maxBatch) break;
      parts.push(encodeRecord(r));
      expect++;
    }
    if (parts.length === 0) {
      throw new HistoryGapError(`history has no seq ${next} (next it has: ${records[0]?.seq ?? 'none'})`);
    }
    return { data: Buffer.from(encodeBatch(parts.join(','))), count: parts.length, last: expect - 1 };
  }

  private write(c: Connection, f: Frame): void {
    this.broadcaster.write(c, f.data, f.count); // the same Buffer for every caught-up connection
    c.sent = f.last;
    this.metrics.recordsSent.inc(f.count);
  }

  private failConnection(c: Connection, err: unknown): void {
    if (c.closed) return;
    const gap = err instanceof HistoryGapError;
    this.logger.error(
      { event: gap ? 'feed.history_gap' : 'feed.catchup_failed', err, conn: c.id, sentSeq: c.sent },
      gap ? 'feed history cannot serve the client position' : 'feed catch-up failed',
    );
    c.ws.close(CLOSE_INTERNAL_ERROR, gap ? 'history gap' : 'catch-up failed');
  }
}
