import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { type AttemptOutcome, AuthGuard } from '../../kernel/auth/failures.js';
import type { KeyIdentity } from '../../kernel/auth/keys.js';
import { type Clock, systemClock, type Timer } from '../../kernel/clock.js';
import { CODE, ERRORS, fail } from '../../kernel/errors.js';
import { refuseUpgrade } from '../../kernel/feed/upgrade.js';
import type { Logger } from '../../kernel/logger.js';
import type { App } from '../../kernel/service.js';
import { Broadcaster, Peer } from '../../kernel/ws/broadcaster.js';
import { CHANNEL_RULES, type ChannelKind, type ChannelSpec, lookupChannel } from './channels.js';
import {
  CLOSE_GOING_AWAY,
  CLOSE_SLOW_CONSUMER,
  CLOSE_UNAUTHORIZED,
  type ClientOp,
  type ErrorReply,
  encodeData,
  type MessageId,
  type ParsedOp,
  parseClientOp,
} from './protocol.js';

/** Who an upgrade let in, and until when at most (the browser session a stream token came from). */
export interface Admission {
  identity: KeyIdentity;
  /** ms since the epoch; the connection is closed then. */
  until?: number;
}

export interface HubOptions {
  channels: ChannelSpec[];
  symbols: readonly string[];
  logger: Logger;
  /** Who is behind an upgrade request, or null to refuse it with 401. */
  authenticate(req: IncomingMessage, url: URL): Promise<Admission | null>;
  /** Which of these key ids are revoked (or gone): asked about the connected keys every `revalidateMs`. */
  revokedAmong(ids: ReadonlySet<string>): Promise<ReadonlySet<string>>;
  /** How often open connections are checked against revocation and expiry (default 1 s). */
  revalidateMs?: number;
  /** The client address of an upgrade (behind a trusted proxy, the one it forwarded for). */
  clientIp?(req: IncomingMessage): string;
  maxClients: number;
  /** Connections of one key (429 beyond); one key cannot take every slot. */
  maxClientsPerKey: number;
  /** Connections from one client IP (429 beyond). */
  maxClientsPerIp: number;
  /** Upgrades being authenticated at once; more are refused with 503 (scrypt is not free). */
  maxPendingUpgrades: number;
  /** Failed authentications per client IP in a minute; then that IP's upgrades get 429 until the minute ends. */
  authFailuresPerMinute: number;
  /** Distinct credentials being verified at once for one IP; more get 429 (default 4). */
  authConcurrentPerIp?: number;
  /** Time and the revalidation timer (default: the system clock). */
  clock?: Clock;
  maxSubscriptionsPerClient: number;
  maxFrameBytes: number;
  maxBufferedBytes: number;
  maxQueuedBytes: number;
  heartbeatIntervalMs: number;
  /** After a slow-consumer close, how long the close frame may wait behind unread data (default 10 s). */
  closeTimeoutMs?: number;
}

export type DisconnectReason = 'slow' | 'heartbeat' | 'revoked' | 'expired';

/** How long a client has to answer the close frame at shutdown or when its credential ends. */
const CLOSE_TIMEOUT_MS = 2_000;

/** What identifies the credential of an upgrade: the same one sent twice at once shares one check. */
const credentialOf = (req: IncomingMessage, url: URL): string => {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header) return `key:${header}`;
  const token = url.searchParams.get('token');
  return token ? `token:${token}` : '';
};

/** Running totals the metrics read at scrape time (the delivery path touches plain numbers only). */
export interface HubCounters {
  messagesOut: Record<ChannelKind | 'reply', number>;
  conflated: Record<ChannelKind, number>;
  disconnects: Record<DisconnectReason, number>;
  authFailures: number;
  /**
   * Upgrades refused: blocked (429, IP past its failure limit), busy (503 too many handshakes, 429
   * too many verifications) or capped (429, the key or IP has its most connections).
   */
  refused: { blocked: number; busy: number; capped: number };
}

export interface ClientStats {
  id: number;
  key: string;
  subscriptions: number;
  bufferedAmount: number;
  maxBufferedAmount: number;
  queuedBytes: number;
  maxQueuedBytes: number;
  conflated: number;
}

class Channel {
  seq = 0;
  readonly subscribers = new Set<Client>();
  readonly conflate: boolean;
  readonly snapshot: boolean;
  /** Messages published since the last flush, encoded. */
  turn: string[] = [];
  /** `turn` joined with commas, set during a flush. */
  joined = '';
  count = 0;
  /** The newest message of the sealed turn: all a client that is behind gets of it. */
  lastOfTurn = '';
  /** What a new subscriber is sent first: the latest message delivered (or published with nobody listening). */
  latest: { seq: number; data: unknown } | undefined;
  private turnLatest: unknown;

  constructor(readonly spec: ChannelSpec) {
    this.conflate = CHANNEL_RULES[spec.kind].conflate;
    this.snapshot = CHANNEL_RULES[spec.kind].snapshot;
  }

  get name(): string {
    return this.spec.name;
  }

  /** Returns true when the message waits for the next flush. */
  publish(data: unknown): boolean {
    this.seq++;
    if (this.subscribers.size === 0) {
      if (this.snapshot) this.latest = { seq: this.seq, data };
      return false;
    }
    this.turn.push(encodeData(this.spec.name, this.seq, data));
    this.turnLatest = data;
    return true;
  }

  /** Moves this turn's messages to `joined`; a snapshot sent from now on is the newest of them. */
  seal(): void {
    this.joined = this.turn.join(',');
    this.count = this.turn.length;
    this.lastOfTurn = this.turn[this.turn.length - 1] ?? '';
    this.turn = [];
    if (this.snapshot) this.latest = { seq: this.seq, data: this.turnLatest };
  }
}

interface Queued {
  text: string;
  count: number;
  kind: ChannelKind | 'reply';
}

class Client extends Peer {
  readonly subscriptions = new Set<Channel>();
  /** Undroppable messages waiting for the socket to drain, in order. */
  queue: Queued[] = [];
  queuedBytes = 0;
  maxQueuedBytes = 0;
  /** Behind: the latest message per conflating channel, replacing older ones. */
  conflatedLatest = new Map<Channel, string>();
  conflatedCount = 0;
  /** Once set the client gets nothing more: it is being disconnected. */
  closing = false;

  constructor(
    id: number,
    ws: WebSocket,
    readonly identity: KeyIdentity,
    readonly ip: string,
    /** When the connection must end (ms since the epoch), if ever. */
    readonly until: number | undefined,
  ) {
    super(id, ws);
  }

  /** Has queued or conflated messages waiting for its socket to drain. */
  get backlogged(): boolean {
    return this.queue.length > 0 || this.conflatedLatest.size > 0;
  }
}

type Reply =
  | ErrorReply
  | { type: 'pong' | 'unsubscribed'; id?: MessageId; channels?: string[] }
  | { type: 'subscribed'; id?: MessageId; channels: string[]; added: Channel[] };

interface Hello {
  type: 'hello';
  role: string;
  limits: { maxSubscriptions: number; maxFrameBytes: number };
}

/**
 * The WebSocket fan-out: clients subscribe to a fixed set of channels; each publish gets the
 * channel's next seq and goes out once per event-loop turn in one frame per client (clients with
 * the same channels share the frame's Buffer). A client whose socket buffer passes
 * maxBufferedBytes is behind: until it drains, its market data is conflated to the latest message
 * per channel and everything else queues, and a queue past maxQueuedBytes disconnects it.
 */
export class Hub {
  readonly counters: HubCounters = {
    messagesOut: { trades: 0, quotes: 0, bars: 0, orders: 0, positions: 0, risk: 0, health: 0, reply: 0 },
    conflated: { trades: 0, quotes: 0, bars: 0, orders: 0, positions: 0, risk: 0, health: 0 },
    disconnects: { slow: 0, heartbeat: 0, revoked: 0, expired: 0 },
    authFailures: 0,
    refused: { blocked: 0, busy: 0, capped: 0 },
  };
  /** Open connections per key id and per client IP, for the caps. */
  private readonly perKey = new Map<string, number>();
  private readonly perIp = new Map<string, number>();
  private revalidating = false;
  private revalidator: Timer | undefined;
  private readonly clock: Clock;
  private readonly guard: AuthGuard;
  private pendingUpgrades = 0;
  private readonly channels = new Map<string, Channel>();
  private readonly specs: Map<string, ChannelSpec>;
  private readonly symbols: Set<string>;
  /**
   * The clients still served (one being disconnected is out already); this turn's messages go out
   * once, at its end, in frames shared by the set of dirty channels a client is subscribed to.
   */
  private readonly broadcaster: Broadcaster<Client, string, Buffer>;
  private readonly closeTimeoutMs: number;
  private dirty: Channel[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: HubOptions) {
    this.clock = opts.clock ?? systemClock;
    for (const spec of opts.channels) this.channels.set(spec.name, new Channel(spec));
    this.specs = new Map(opts.channels.map((c) => [c.name, c]));
    this.symbols = new Set(opts.symbols);
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
    this.guard = new AuthGuard({
      failuresPerMinute: opts.authFailuresPerMinute,
      concurrentPerIp: opts.authConcurrentPerIp ?? 4,
      now: () => this.clock.now(),
    });
    this.broadcaster = new Broadcaster({
      maxPayload: opts.maxFrameBytes,
      maxBufferedBytes: opts.maxBufferedBytes,
      pingIntervalMs: opts.heartbeatIntervalMs,
      flush: () => this.flush(),
      // A frame leaving the buffer is the moment to drain the queue.
      onWritten: (c) => {
        if (c.backlogged && !c.closing && this.broadcaster.hasDrained(c)) this.drain(c);
      },
      onClose: (c, code) => {
        this.detach(c);
        this.opts.logger.info(
          { event: 'stream.client_closed', client: c.id, key: c.identity.name, code },
          'stream client disconnected',
        );
      },
      onHeartbeatTimeout: (c) => {
        this.counters.disconnects.heartbeat++;
        this.opts.logger.warn(
          { event: 'stream.heartbeat_timeout', client: c.id, key: c.identity.name },
          'stream client missed a pong; terminating',
        );
        this.detach(c);
      },
    });
  }

  get clientCount(): number {
    return this.broadcaster.peerCount;
  }

  get subscriptionCount(): number {
    let n = 0;
    for (const c of this.broadcaster.peers) n += c.subscriptions.size;
    return n;
  }

  /** Serves the hub at `path` on the app's HTTP server. */
  attach(app: App, path: string): void {
    this.broadcaster.attach(
      app,
      path,
      (req, socket, head, url) => void this.upgrade(req, socket, head, url),
      () => this.close(),
    );
    this.revalidator = this.clock
      .every(this.opts.revalidateMs ?? 1_000, () => void this.revalidate())
      .unref();
  }

  /** The hot path: the message gets the channel's next seq and leaves in this turn's frames. */
  publish(channel: string, data: unknown): void {
    const ch = this.channels.get(channel);
    if (!ch) throw new Error(`no channel ${channel}`);
    if (ch.publish(data) && ch.turn.length === 1) {
      this.dirty.push(ch);
      this.broadcaster.schedule();
    }
  }

  stats(): ClientStats[] {
    return [...this.broadcaster.peers].map((c) => ({
      id: c.id,
      key: c.identity.name,
      subscriptions: c.subscriptions.size,
      bufferedAmount: c.ws.bufferedAmount,
      maxBufferedAmount: c.maxBufferedAmount,
      queuedBytes: c.queuedBytes,
      maxQueuedBytes: c.maxQueuedBytes,
      conflated: c.conflatedCount,
    }));
  }

  /** Closes every client with 1001 and takes no new ones. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.clock.cancel(this.revalidator);
      await this.broadcaster.closeAll(CLOSE_GOING_AWAY, 'server shutting down', CLOSE_TIMEOUT_MS);
    })();
    return this.closing;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    if (this.closing) return refuseUpgrade(socket, fail.SHUTTING_DOWN());
    // An IP past its failed-authentication limit is refused before any key is checked.
    const ip = this.opts.clientIp?.(req) ?? req.socket.remoteAddress ?? 'unknown';
    const retryAfter = this.guard.blockedFor(ip);
    if (retryAfter > 0) {
      this.counters.refused.blocked++;
      return refuseUpgrade(socket, fail.TOO_MANY_AUTH_FAILURES({ retryAfterSeconds: retryAfter }), {
        'Retry-After': retryAfter,
      });
    }
    if (this.broadcaster.peerCount >= this.opts.maxClients) {
      return refuseUpgrade(socket, fail.TOO_MANY_CLIENTS(`at most ${this.opts.maxClients} clients`));
    }
    if (this.capped(socket, ip)) return;
    if (this.pendingUpgrades >= this.opts.maxPendingUpgrades) {
      this.counters.refused.busy++;
      return refuseUpgrade(
        socket,
        fail.TOO_MANY_HANDSHAKES(
          `at most ${this.opts.maxPendingUpgrades} connections may be authenticating at once`,
        ),
      );
    }
    let outcome: AttemptOutcome<Admission>;
    this.pendingUpgrades++;
    try {
      // Counted as a failure before it is checked, so parallel guesses cannot outrun the limit.
      outcome = await this.guard.attempt(ip, credentialOf(req, url), () => this.opts.authenticate(req, url));
    } catch (err) {
      this.opts.logger.error({ err }, 'stream authentication failed');
      return refuseUpgrade(socket, fail.INTERNAL_ERROR());
    } finally {
      this.pendingUpgrades--;
    }
    if (!outcome.ok && outcome.reason !== 'failed') {
      this.counters.refused[outcome.reason]++;
      const refuse = outcome.reason === 'blocked' ? fail.TOO_MANY_AUTH_FAILURES : fail.TOO_MANY_AUTH_ATTEMPTS;
      return refuseUpgrade(socket, refuse({ retryAfterSeconds: outcome.retryAfter }), {
        'Retry-After': outcome.retryAfter,
      });
    }
    if (!outcome.ok) {
      this.counters.authFailures++;
      return refuseUpgrade(
        socket,
        fail.UNAUTHORIZED('a valid X-API-Key header or ?token= (from the gateway) is required'),
      );
    }
    if (socket.destroyed) return;
    const who = outcome.value;
    // Checked again with the key known; ws completes the upgrade in this same turn, so no other
    // upgrade can slip in between the check and the count.
    if (this.capped(socket, ip, who.identity.id)) return;
    this.broadcaster.accept(req, socket, head, (ws, id) =>
      this.connected(new Client(id, ws, who.identity, ip, who.until)),
    );
  }

  /** Refuses an upgrade (429) when its IP, or its key once known, has the most connections it may. */
  private capped(socket: Duplex, ip: string, keyId?: string): boolean {
    const { maxClientsPerIp: perIp, maxClientsPerKey: perKey } = this.opts;
    const retry = { retryAfterSeconds: 5 };
    const refusal =
      (this.perIp.get(ip) ?? 0) >= perIp
        ? fail.TOO_MANY_CONNECTIONS_PER_IP(`at most ${perIp} connections from one address`, retry)
        : keyId !== undefined && (this.perKey.get(keyId) ?? 0) >= perKey
          ? fail.TOO_MANY_CONNECTIONS_PER_KEY(`at most ${perKey} connections per API key`, retry)
          : undefined;
    if (!refusal) return false;
    this.counters.refused.capped++;
    refuseUpgrade(socket, refusal, { 'Retry-After': 5 });
    return true;
  }

  private connected(c: Client): void {
    const { ws, identity, ip } = c;
    this.broadcaster.add(c);
    this.perKey.set(identity.id, (this.perKey.get(identity.id) ?? 0) + 1);
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    ws.on('message', (data, isBinary) => this.onMessage(c, data, isBinary));
    ws.on('error', (err) =>
      this.opts.logger.debug({ err: err.message, client: c.id }, 'stream client error'),
    );
    this.opts.logger.info(
      { event: 'stream.client_connected', client: c.id, key: identity.name, role: identity.role },
      'stream client connected',
    );
    this.reply(c, {
      type: 'hello',
      role: identity.role,
      limits: {
        maxSubscriptions: this.opts.maxSubscriptionsPerClient,
        maxFrameBytes: this.opts.maxFrameBytes,
      },
    });
  }

  private onMessage(c: Client, data: RawData, isBinary: boolean): void {
    if (c.closing) return;
    const parsed: ParsedOp = isBinary
      ? {
          ok: false,
          error: {
            type: 'error',
            code: CODE.BINARY_NOT_SUPPORTED,
            message: ERRORS.BINARY_NOT_SUPPORTED.message,
          },
        }
      : parseClientOp(rawText(data), this.opts.maxSubscriptionsPerClient);
    const answer = parsed.ok ? this.handle(c, parsed.op) : parsed.error;
    this.reply(c, answer);
    // The latest state of new subscriptions after the ack; this turn's messages follow in the flush.
    if (answer.type === 'subscribed') {
      for (const ch of answer.added) {
        if (ch.snapshot && ch.latest) {
          this.send(c, encodeData(ch.name, ch.latest.seq, ch.latest.data), 1, ch.spec.kind);
        }
      }
    }
  }

  /** Applies one op and returns the reply. */
  private handle(c: Client, op: ClientOp): Reply {
    const withId = op.id !== undefined ? { id: op.id } : {};
    if (op.op === 'ping') return { type: 'pong', ...withId };
    const found: Channel[] = [];
    for (const name of op.channels) {
      const r = lookupChannel(name, this.specs, this.symbols, c.identity.role);
      // All or nothing: a list with a bad name changes no subscription.
      if (!r.ok) return { type: 'error', code: r.code, message: r.message, ...withId };
      found.push(this.channels.get(r.channel.name) as Channel);
    }
    const channels = found.map((ch) => ch.name);
    if (op.op === 'unsubscribe') {
      for (const ch of found) {
        ch.subscribers.delete(c);
        c.subscriptions.delete(ch);
        c.conflatedLatest.delete(ch);
      }
      return { type: 'unsubscribed', channels, ...withId };
    }
    const added = found.filter((ch) => !c.subscriptions.has(ch));
    if (c.subscriptions.size + added.length > this.opts.maxSubscriptionsPerClient) {
      return {
        type: 'error',
        code: CODE.TOO_MANY_SUBSCRIPTIONS,
        message: `at most ${this.opts.maxSubscriptionsPerClient} subscriptions per client`,
        ...withId,
        details: { limit: this.opts.maxSubscriptionsPerClient, subscribed: c.subscriptions.size },
      };
    }
    for (const ch of added) {
      ch.subscribers.add(c);
      c.subscriptions.add(ch);
    }
    return { type: 'subscribed', channels, ...withId, added };
  }

  private reply(c: Client, msg: Reply | Hello): void {
    // `added` is the hub's own bookkeeping, not part of the reply.
    const { added: _added, ...wire } = msg as Reply & { added?: unknown };
    this.send(c, JSON.stringify(wire), 1, 'reply');
  }

  /** One undroppable message or segment to one client: now when it keeps up, else queued. */
  private send(c: Client, text: string, count: number, kind: ChannelKind | 'reply'): void {
    if (c.closing || c.closed) return;
    if (c.backlogged && this.broadcaster.hasDrained(c)) this.drain(c);
    if (!c.backlogged && !this.broadcaster.isBehind(c)) {
      this.broadcaster.write(c, Buffer.from(`[${text}]`), count);
      this.counters.messagesOut[kind] += count;
    } else {
      this.enqueue(c, { text, count, kind });
    }
  }

  /** Once per turn: this turn's messages to every subscriber. */
  private flush(): void {
    const dirty = this.dirty;
    this.dirty = [];
    const affected = new Set<Client>();
    for (const ch of dirty) {
      ch.seal();
      for (const c of ch.subscribers) affected.add(c);
    }
    // Clients subscribed to the same dirty channels get the same frame: built once per turn.
    const frames = this.broadcaster.sharedFrames;
    for (const c of affected) {
      if (c.closing) continue;
      const mine = dirty.length === 1 ? dirty : dirty.filter((ch) => c.subscriptions.has(ch));
      if (c.backlogged && this.broadcaster.hasDrained(c)) this.drain(c);
      if (!c.backlogged && !this.broadcaster.isBehind(c)) {
        const key = mine.length === 1 ? (mine[0] as Channel).name : mine.map((ch) => ch.name).join('\n');
        let frame = frames.get(key);
        if (!frame) {
          frame = Buffer.from(`[${mine.map((ch) => ch.joined).join(',')}]`);
          frames.set(key, frame);
        }
        let count = 0;
        for (const ch of mine) {
          this.counters.messagesOut[ch.spec.kind] += ch.count;
          count += ch.count;
        }
        this.broadcaster.write(c, frame, count);
        continue;
      }
      for (const ch of mine) {
        if (!ch.conflate) {
          this.enqueue(c, { text: ch.joined, count: ch.count, kind: ch.spec.kind });
          continue;
        }
        const replaced = c.conflatedLatest.has(ch) ? 1 : 0;
        c.conflatedLatest.set(ch, ch.lastOfTurn);
        const dropped = ch.count - 1 + replaced;
        c.conflatedCount += dropped;
        this.counters.conflated[ch.spec.kind] += dropped;
      }
    }
    for (const ch of dirty) {
      ch.joined = '';
      ch.lastOfTurn = '';
    }
  }

  private enqueue(c: Client, item: Queued): void {
    c.queue.push(item);
    c.queuedBytes += item.text.length;
    if (c.queuedBytes > c.maxQueuedBytes) c.maxQueuedBytes = c.queuedBytes;
    if (c.queuedBytes > this.opts.maxQueuedBytes) this.disconnectSlow(c);
  }

  /** Everything a client that was behind has waiting, in one frame: the queue in order, then the latest market data. */
  private drain(c: Client): void {
    const parts: string[] = [];
    let count = 0;
    for (const q of c.queue) {
      parts.push(q.text);
      this.counters.messagesOut[q.kind] += q.count;
      count += q.count;
    }
    for (const [ch, text] of c.conflatedLatest) {
      parts.push(text);
      this.counters.messagesOut[ch.spec.kind]++;
      count++;
    }
    c.queue = [];
    c.queuedBytes = 0;
    c.conflatedLatest.clear();
    if (parts.length > 0) this.broadcaster.write(c, Buffer.from(`[${parts.join(',')}]`), count);
  }

  private disconnectSlow(c: Client): void {
    c.closing = true;
    this.counters.disconnects.slow++;
    this.detach(c);
    this.opts.logger.warn(
      {
        event: 'stream.slow_client_disconnected',
        client: c.id,
        key: c.identity.name,
        queuedBytes: c.queuedBytes,
        bufferedAmount: c.ws.bufferedAmount,
      },
      'stream client too slow; disconnected',
    );
    c.queue = [];
    c.queuedBytes = 0;
    c.conflatedLatest.clear();
    // The close frame waits behind what the client has not read; a client that never reads is cut off.
    const reason = `slow consumer: more than ${this.opts.maxQueuedBytes} bytes queued`;
    void this.broadcaster.closePeer(c, CLOSE_SLOW_CONSUMER, reason, this.closeTimeoutMs);
  }

  private detach(c: Client): void {
    // Detached once, though a client may be both cut off and then closed.
    if (this.broadcaster.remove(c)) {
      countDown(this.perKey, c.identity.id);
      countDown(this.perIp, c.ip);
    }
    for (const ch of c.subscriptions) ch.subscribers.delete(c);
    c.subscriptions.clear();
  }

  /**
   * Closes the connections whose key was revoked or whose browser session ended: 4401, so a
   * client knows not to reconnect with the same credential. One pass at a time.
   */
  private async revalidate(): Promise<void> {
    if (this.revalidating || this.broadcaster.peerCount === 0) return;
    this.revalidating = true;
    try {
      const now = this.clock.now();
      const ids = new Set([...this.broadcaster.peers].map((c) => c.identity.id));
      const revoked = await this.opts.revokedAmong(ids);
      for (const c of this.broadcaster.peers) {
        if (revoked.has(c.identity.id)) this.disconnectUnauthorized(c, 'revoked', 'key revoked');
        else if (c.until !== undefined && c.until <= now)
          this.disconnectUnauthorized(c, 'expired', 'session expired');
      }
    } catch (err) {
      this.opts.logger.error({ err }, 'stream revalidation failed');
    } finally {
      this.revalidating = false;
    }
  }

  private disconnectUnauthorized(c: Client, reason: 'revoked' | 'expired', text: string): void {
    c.closing = true;
    this.counters.disconnects[reason]++;
    this.detach(c);
    this.opts.logger.warn(
      { event: `stream.client_${reason}`, client: c.id, key: c.identity.name, keyId: c.identity.id },
      `stream client disconnected: ${text}`,
    );
    // Nothing more is sent to it; a client that does not answer the close is cut off.
    void this.broadcaster.closePeer(c, CLOSE_UNAUTHORIZED, text, CLOSE_TIMEOUT_MS);
  }
}

function countDown(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 0) - 1;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
