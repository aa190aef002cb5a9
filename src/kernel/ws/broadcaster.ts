import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { addUpgradeRoute, type UpgradeHandler } from '../feed/upgrade.js';
import type { App } from '../service.js';
import { TurnBatcher } from '../turn.js';

const ignore = (): void => {};
/** Frames are UTF-8 JSON held in Buffers; they go out as text frames. */
const TEXT_FRAME = { binary: false };

/** One connection of a broadcaster; owners extend it with their own state. */
export class Peer {
  /** Answered the last ping (or has not been pinged yet). */
  alive = true;
  closed = false;
  framesSent = 0;
  /** Messages (records, channel messages) in the frames written, as counted by the owner. */
  messagesSent = 0;
  /** Largest socket buffer seen right after a write. */
  maxBufferedAmount = 0;
  maxFrameBytes = 0;
  /** The write callback of every frame, bound once when the peer joins: a written frame is the drain signal. */
  onWritten: () => void = ignore;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
  ) {}
}

export interface BroadcasterOptions<P extends Peer> {
  /** Largest frame a peer may send; `ws` closes it with 1009 beyond. */
  maxPayload: number;
  /** Socket buffer above which a peer is behind; it has drained again at half of it. */
  maxBufferedBytes: number;
  /** Ping period; a peer that has not answered the previous ping is terminated (0 = off). */
  pingIntervalMs: number;
  /** The owner's delivery, once at the end of a turn in which `schedule()` was called. */
  flush(): void;
  /** After each frame `write` gave p's socket has left it: resume a catch-up, drain a queue. */
  onWritten(p: P): void;
  /** p's socket closed; p is still in `peers` during the call (unless `remove`d before). */
  onClose(p: P, code: number): void;
  /** p did not answer the last ping; it is terminated right after. */
  onHeartbeatTimeout(p: P): void;
}

/**
 * The WebSocket side shared by the feed server and the stream hub: upgrades, the set of peers,
 * the heartbeat, timed closes, writes with their stats, the per-turn flush and the backpressure
 * marks. What to send, and what to do with a peer that is behind, stays with the owner.
 * K and F: the key and value of the frames shared within one flush.
 */
export class Broadcaster<P extends Peer, K = never, F = never> {
  /** This flush's frames by key, so each distinct frame is built once however many peers get it; emptied after each flush. */
  readonly sharedFrames = new Map<K, F>();
  private readonly set = new Set<P>();
  private readonly wss: WebSocketServer;
  private readonly maxBufferedBytes: number;
  private readonly lowWater: number;
  private readonly turn: TurnBatcher;
  private nextId = 1;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly opts: BroadcasterOptions<P>) {
    this.maxBufferedBytes = opts.maxBufferedBytes;
    this.lowWater = Math.floor(opts.maxBufferedBytes / 2);
    this.turn = new TurnBatcher(this.runFlush);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: opts.maxPayload,
    });
  }

  get peers(): ReadonlySet<P> {
    return this.set;
  }

  get peerCount(): number {
    return this.set.size;
  }

  /**
   * Routes upgrades at `path` of the app's HTTP server to `upgrade` (which admits or refuses, then
   * calls `accept`), runs `close` before the HTTP server closes (open sockets would hold it), and
   * starts the heartbeat.
   */
  attach(app: App, path: string, upgrade: UpgradeHandler, close: () => Promise<void>): void {
    addUpgradeRoute(app.server, path, upgrade);
    app.addHook('preClose', async () => close());
    if (this.opts.pingIntervalMs > 0 && !this.heartbeat) {
      this.heartbeat = setInterval(() => this.beat(), this.opts.pingIntervalMs);
      this.heartbeat.unref();
    }
  }

  /** Completes an admitted upgrade; `connected` makes the peer (with the next id) and `add`s it. */
  accept(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    connected: (ws: WebSocket, id: number) => void,
  ): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => connected(ws, this.nextId++));
  }

  /** The peer joins: its pongs, its close and its write callback are wired here. */
  add(p: P): void {
    this.set.add(p);
    p.onWritten = () => this.opts.onWritten(p);
    p.ws.on('pong', () => {
      p.alive = true;
    });
    p.ws.on('close', (code) => {
      p.closed = true;
      this.opts.onClose(p, code);
      this.set.delete(p);
    });
  }

  /** Takes p out of the set before its socket closes (nothing more is sent to it); false if it was out already. */
  remove(p: P): boolean {
    return this.set.delete(p);
  }

  /** Delivery at the end of this turn: as often as you like, one flush. */
  schedule(): void {
    this.turn.schedule();
  }

  /** Its socket buffer is over the high mark: send it no more for now. */
  isBehind(p: P): boolean {
    return p.ws.bufferedAmount > this.maxBufferedBytes;
  }

  /** Its socket buffer is down to the low-water mark (half the high one): it may be sent to again. */
  hasDrained(p: P): boolean {
    return p.ws.bufferedAmount <= this.lowWater;
  }

  /** One frame to one peer; the same Buffer may go to many. `count`: the messages it carries. */
  write(p: P, data: Buffer, count: number): void {
    p.ws.send(data, TEXT_FRAME, p.onWritten);
    p.framesSent++;
    p.messagesSent += count;
    const buffered = p.ws.bufferedAmount;
    if (buffered > p.maxBufferedAmount) p.maxBufferedAmount = buffered;
    if (data.length > p.maxFrameBytes) p.maxFrameBytes = data.length;
  }

  /**
   * Sends a close frame, and destroys the socket if the close has not completed within
   * `timeoutMs` (the frame waits behind whatever the peer has not read; a peer may never read).
   */
  closePeer(p: P, code: number, reason: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (p.closed) return resolve();
      const timer = setTimeout(() => p.ws.terminate(), timeoutMs);
      timer.unref();
      p.ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      p.ws.close(code, reason);
    });
  }

  /** Stops the heartbeat and closes every peer in the set; resolves when all are closed or cut off. */
  async closeAll(code: number, reason: string, timeoutMs: number): Promise<void> {
    clearInterval(this.heartbeat);
    await Promise.all([...this.set].map((p) => this.closePeer(p, code, reason, timeoutMs)));
  }

  private readonly runFlush = (): void => {
    try {
      this.opts.flush();
    } finally {
      this.sharedFrames.clear();
    }
  };

  private beat(): void {
    for (const p of this.set) {
      if (!p.alive) {
        this.opts.onHeartbeatTimeout(p);
        p.ws.terminate();
        continue;
      }
      p.alive = false;
      p.ws.ping();
    }
  }
}
