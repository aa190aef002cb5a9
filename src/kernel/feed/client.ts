import { WebSocket } from 'ws';
import type { Logger } from '../logger.js';
import { type FeedRecord, parseServerMessage } from './protocol.js';

export type FeedClientState = 'connecting' | 'open' | 'closed';

export interface FeedClientOptions<T> {
  /** ws://host:port/path of the feed. */
  url: string;
  /** Seq the consumer already has (0 = everything); omitted = live only, from the server's last seq. */
  from?: number;
  /** Records in seq order, each seq exactly one above the previous delivered one. */
  onRecords(records: FeedRecord<T>[]): void;
  onState?(state: FeedClientState): void;
  logger?: Logger;
  /** First reconnect delay, doubled per failed attempt (default 100 ms). */
  backoffInitialMs?: number;
  /** Longest reconnect delay (default 5 s). */
  backoffMaxMs?: number;
  /** Reconnects when nothing (not even a server ping) arrived for this long (default 45 s, 0 = off). */
  idleTimeoutMs?: number;
  /** Sent on every connect: the internal credential. */
  headers?: Record<string, string>;
}

export interface FeedClientStats {
  connects: number;
  reconnects: number;
  records: number;
  duplicatesDropped: number;
  gapsDetected: number;
  gapsRecovered: number;
}

/**
 * The consumer side of a feed: delivers records exactly once and in order across reconnects. It
 * resumes with `from=<last delivered seq>`; a gap in what arrives is never delivered past: it drops
 * the connection and resumes from the last delivered seq so the server replays.
 */
export class FeedClient<T> {
  readonly stats: FeedClientStats = {
    connects: 0,
    reconnects: 0,
    records: 0,
    duplicatesDropped: 0,
    gapsDetected: 0,
    gapsRecovered: 0,
  };
  /** The server's last seq from the latest hello. */
  serverLastSeq: number | undefined;
  lastError: string | undefined;
  private last: number | undefined;
  private ws: WebSocket | undefined;
  private state: FeedClientState = 'closed';
  private running = false;
  private attempt = 0;
  private reconnectNow = false;
  private pendingGap = false;
  private lastActivity = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly idleTimeoutMs: number;

  constructor(private readonly opts: FeedClientOptions<T>) {
    if (opts.from !== undefined && !(Number.isSafeInteger(opts.from) && opts.from >= 0)) {
      throw new RangeError('from must be a non-negative integer');
    }
    this.last = opts.from;
    this.backoffInitialMs = opts.backoffInitialMs ?? 100;
    this.backoffMaxMs = opts.backoffMaxMs ?? 5_000;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 45_000;
  }

  /** Last delivered seq (undefined for a live-only client before its first hello). */
  get lastSeq(): number | undefined {
    return this.last;
  }

  get currentState(): FeedClientState {
    return this.state;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.idleTimeoutMs > 0) {
      this.idleTimer = setInterval(() => this.checkIdle(), Math.max(10, Math.floor(this.idleTimeoutMs / 4)));
      this.idleTimer.unref();
    }
    this.connect();
  }

  /** Stops reconnecting and closes the connection; resolves once it is closed. */
  stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.idleTimer);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      // A server that does not answer the close frame is cut off rather than waited on.
      const timer = setTimeout(() => ws.terminate(), 2_000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'client stopping');
    });
  }

  private connect(): void {
    const url = new URL(this.opts.url);
    if (this.last !== undefined) url.searchParams.set('from', String(this.last));
    if (this.stats.connects++ > 0) this.stats.reconnects++;
    this.setState('connecting');
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      ...(this.opts.headers && { headers: this.opts.headers }),
    });
    this.ws = ws;
    this.lastActivity = Date.now();
    ws.on('open', () => {
      this.lastActivity = Date.now();
      this.setState('open');
    });
    ws.on('ping', () => {
      this.lastActivity = Date.now();
    });
    ws.on('message', (data) => {
      // After terminate() frames already parsed may still arrive: they are not ours to deliver.
      if (ws.readyState !== WebSocket.OPEN) return;
      this.lastActivity = Date.now();
      this.onMessage(ws, rawToString(data));
    });
    ws.on('error', (err) => {
      this.lastError = err.message; // e.g. "Unexpected server response: 400" for a refused from
      if (!this.running) return; // stop() during a handshake errors by design
      this.opts.logger?.warn(
        { event: 'feed.client_error', url: this.opts.url, err: err.message },
        'feed error',
      );
    });
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.setState('closed');
      if (this.running) this.scheduleReconnect();
    });
  }

  private onMessage(ws: WebSocket, text: string): void {
    const msg = parseServerMessage<T>(text);
    if (!msg) {
      this.opts.logger?.warn({ event: 'feed.client_protocol_error', url: this.opts.url }, 'bad feed frame');
      ws.terminate();
      return;
    }
    if (msg.t === 'hello') {
      this.serverLastSeq = msg.lastSeq;
      this.last ??= msg.lastSeq;
      this.attempt = 0;
      return;
    }
    const records = msg.records;
    if (this.last === undefined) this.last = (records[0]?.seq ?? 1) - 1;
    let expect = this.last + 1;
    let gapAt: number | undefined;
    const out: FeedRecord<T>[] = [];
    for (const r of records) {
      if (r.seq < expect) {
        this.stats.duplicatesDropped++;
        continue;
      }
      if (r.seq !== expect) {
        gapAt = r.seq;
        break;
      }
      out.push(r);
      expect++;
    }
    if (out.length > 0) {
      this.last = expect - 1;
      this.stats.records += out.length;
      if (this.pendingGap) {
        this.pendingGap = false;
        this.stats.gapsRecovered++;
      }
      try {
        this.opts.onRecords(out);
      } catch (err) {
        // The records count as delivered: a consumer bug must not replay them forever.
        this.opts.logger?.error({ event: 'feed.client_handler_error', err }, 'feed onRecords threw');
      }
    }
    if (gapAt !== undefined) {
      this.stats.gapsDetected++;
      this.pendingGap = true;
      this.opts.logger?.warn(
        { event: 'feed.client_gap', url: this.opts.url, expected: expect, got: gapAt },
        'feed gap; resuming from the last delivered seq',
      );
      this.reconnectNow = true;
      ws.terminate();
    }
  }

  private scheduleReconnect(): void {
    const delay = this.reconnectNow
      ? 0
      : Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(this.attempt, 30));
    this.reconnectNow = false;
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      if (this.running) this.connect();
    }, delay);
  }

  private checkIdle(): void {
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN || Date.now() - this.lastActivity <= this.idleTimeoutMs) return;
    this.opts.logger?.warn({ event: 'feed.client_idle', url: this.opts.url }, 'feed silent; reconnecting');
    ws.terminate();
  }

  private setState(state: FeedClientState): void {
    if (state === this.state) return;
    this.state = state;
    this.opts.onState?.(state);
  }
}

function rawToString(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
