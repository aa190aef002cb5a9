import { type ConnectionInput, type ConnectionState, nextState } from '../../domain/connection.js';
import type { BrokerEvent } from '../../domain/execution.js';
import type { Clock, Timer } from '../../kernel/clock.js';
import type { Config } from '../../kernel/config.js';
import type { Logger } from '../../kernel/logger.js';
import type { HealthCheckResult } from '../../kernel/service.js';
import type { MarketDataClient } from '../../ports/broker.js';

type RecoveryPolicy = Config['services']['data-capture']['recovery'];

export interface Subscription {
  symbol: string;
  exchange: string;
}

/** One change of the connection state, as `check-connection` shows it. */
export interface StateTransition {
  /** ISO-8601. */
  at: string;
  from: ConnectionState;
  to: ConnectionState;
  /** The input that caused it: `connect`, `market:disconnected`, `stalled`, `gave-up`… */
  cause: string;
}

/** Transitions kept in memory for `/api/status` (the log keeps them all as `broker.state`). */
export const TRANSITIONS_KEPT = 50;

export interface BrokerSessionOptions {
  adapter: MarketDataClient;
  policy: RecoveryPolicy;
  clock: Clock;
  logger: Logger;
  /** What to (re)subscribe after every connect. */
  subscriptions: () => Subscription[];
  /** Whether data is expected now: a silent feed counts as stalled only while the market is open. */
  marketOpen: (now: number) => boolean;
  onStateChange?: (state: ConnectionState) => void;
  /** Every reconnect attempt (the metric a reconnect-storm alert watches). */
  onReconnect?: () => void;
  onEscalation?: (escalated: boolean) => void;
}

/**
 * Owns one broker connection and the recovery policy of the operations summary: on a lost
 * connection, `reconnectAttempts` attempts `reconnectIntervalMs` apart, then Degraded with slower
 * retries; a feed silent for `stallAfterMs` while the market is open is Degraded and reconnected;
 * impaired for more than `escalateAfterMs` escalates (error log `broker.escalation`, `/health` down).
 * Refused credentials are not retried (a broker may lock the account); they escalate.
 */
export class BrokerSession {
  state: ConnectionState = 'Disconnected';
  private attempts = 0;
  private lastDataAt = 0;
  private impairedSince: number | null = null;
  escalated = false;
  private reconnectTimer: Timer | null = null;
  private attemptTimer: Timer | null = null;
  private watchdog: Timer | null = null;
  private stopped = false;
  /** Set while we disconnect on purpose, so the adapter's "disconnected" news is not a new loss. */
  private disconnectingOnPurpose = false;
  /** The last TRANSITIONS_KEPT state changes, oldest first. */
  private readonly transitions: StateTransition[] = [];
  /** Reconnect attempts since this session started (the current outage's are `attempts`). */
  private reconnectsTotal = 0;

  constructor(private readonly opts: BrokerSessionOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.impairedSince = this.opts.clock.now();
    const every = Math.max(50, Math.min(1_000, Math.floor(this.opts.policy.stallAfterMs / 4)));
    this.watchdog = this.opts.clock.every(every, () => this.check()).unref();
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.opts.clock.cancel(this.watchdog);
    this.apply({ type: 'disconnect' });
    await this.opts.adapter.disconnect().catch(() => {});
  }

  /** The adapter's news about its connection. */
  handleEvent(event: BrokerEvent): void {
    if (this.stopped) return;
    if (event.type === 'routing') return; // market data does not depend on routing
    if (event.type === 'login') {
      this.apply({ type: 'login', ok: event.ok });
      if (!event.ok) {
        this.clearTimers();
        this.opts.logger.error(
          { event: 'broker.login_failed', reason: event.reason },
          'broker refused the login; not retrying',
        );
      }
      return;
    }
    this.apply({ type: 'market', state: event.state });
    if (event.state === 'connected') {
      this.disconnectingOnPurpose = false;
      void this.subscribeAll();
    } else if (event.state === 'disconnected' && this.disconnectingOnPurpose) {
      this.disconnectingOnPurpose = false;
    } else if (event.state === 'disconnected' || event.state === 'not-logged') {
      this.opts.logger.warn(
        { event: 'broker.connection_lost', state: event.state },
        'market data connection lost',
      );
      this.scheduleReconnect();
    }
  }

  /** Market data arrived: the feed is alive. */
  noteData(): void {
    this.lastDataAt = this.opts.clock.now();
    if (this.state === 'Degraded') this.apply({ type: 'data' });
    if (this.state === 'Active') this.clearImpaired();
  }

  async subscribe(sub: Subscription): Promise<void> {
    if (this.state !== 'Active' && this.state !== 'Degraded') return; // subscribed on the next connect
    await this.opts.adapter.subscribeTrades(sub.symbol, sub.exchange);
    await this.opts.adapter.subscribeQuotes(sub.symbol, sub.exchange);
  }

  async unsubscribe(sub: Subscription): Promise<void> {
    await this.opts.adapter.unsubscribeTrades(sub.symbol, sub.exchange).catch(() => {});
    await this.opts.adapter.unsubscribeQuotes(sub.symbol, sub.exchange).catch(() => {});
  }

  health(): HealthCheckResult {
    const since = this.impairedSince;
    const detail =
      since === null
        ? undefined
        : `${this.state} for ${Math.round((this.opts.clock.now() - since) / 1000)} s`;
    const status = this.escalated ? 'down' : since === null ? 'ok' : 'degraded';
    return {
      status,
      state: this.state,
      ...(detail && { detail }),
      reconnectAttempts: this.attempts,
      escalated: this.escalated,
    };
  }

  /** health() plus the recent transitions and the reconnects so far, for `/api/status`. */
  status(): HealthCheckResult & { transitions: StateTransition[]; reconnectsTotal: number } {
    return { ...this.health(), reconnectsTotal: this.reconnectsTotal, transitions: [...this.transitions] };
  }

  private async connect(): Promise<void> {
    this.apply({ type: 'connect' });
    try {
      await this.opts.adapter.connect();
      this.apply({ type: 'connecting' });
    } catch (err) {
      this.opts.logger.warn(
        { event: 'broker.connect_failed', err: (err as Error).message },
        'connect failed',
      );
      this.apply({ type: 'market', state: 'disconnected' });
      this.scheduleReconnect();
    }
  }

  private async subscribeAll(): Promise<void> {
    this.apply({ type: 'subscribing' });
    try {
      for (const sub of this.opts.subscriptions()) {
        await this.opts.adapter.subscribeTrades(sub.symbol, sub.exchange);
        await this.opts.adapter.subscribeQuotes(sub.symbol, sub.exchange);
      }
    } catch (err) {
      this.opts.logger.error(
        { event: 'broker.subscribe_failed', err: (err as Error).message },
        'subscribe failed',
      );
      this.scheduleReconnect();
      return;
    }
    this.clearTimers();
    this.attempts = 0;
    this.lastDataAt = this.opts.clock.now();
    this.apply({ type: 'subscribed' });
    this.opts.logger.info(
      { event: 'broker.active', subscriptions: this.opts.subscriptions().length },
      'subscribed; capturing',
    );
  }

  /** The next reconnect attempt, or Degraded with slower retries once the attempts are used up. */
  private scheduleReconnect(): void {
    if (this.stopped || this.state === 'InvalidCredentials' || this.reconnectTimer) return;
    const { reconnectAttempts, reconnectIntervalMs } = this.opts.policy;
    let delay = reconnectIntervalMs;
    if (this.attempts >= reconnectAttempts) {
      if (this.state !== 'Degraded') {
        this.apply({ type: 'gave-up' });
        this.opts.logger.error(
          { event: 'broker.reconnect_exhausted', attempts: this.attempts },
          `no reconnect after ${this.attempts} attempts; degraded, retrying slowly`,
        );
      }
      this.attempts = 0;
      delay = reconnectIntervalMs * 6;
    }
    this.reconnectTimer = this.opts.clock.after(delay, () => {
      this.reconnectTimer = null;
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    if (this.stopped) return;
    this.attempts += 1;
    this.reconnectsTotal += 1;
    this.opts.onReconnect?.();
    this.opts.logger.warn(
      { event: 'broker.reconnecting', attempt: this.attempts },
      'reconnecting to the broker',
    );
    this.disconnectingOnPurpose = true;
    await this.opts.adapter.disconnect().catch(() => {});
    // An attempt that has not reached Active by the next interval counts as failed.
    this.attemptTimer = this.opts.clock.after(this.opts.policy.reconnectIntervalMs, () => {
      this.attemptTimer = null;
      if (this.state !== 'Active') this.scheduleReconnect();
    });
    await this.connect();
  }

  private check(): void {
    if (this.stopped) return;
    const now = this.opts.clock.now();
    const silentFor = now - this.lastDataAt;
    if (this.state === 'Active' && this.opts.marketOpen(now) && silentFor > this.opts.policy.stallAfterMs) {
      this.opts.logger.warn(
        { event: 'broker.stalled', silentMs: silentFor },
        'connected but no market data; reconnecting',
      );
      this.apply({ type: 'stalled' });
      this.attempts = 0;
      void this.reconnect();
    }
    if (this.state === 'Active' && !this.opts.marketOpen(now)) this.clearImpaired();
    if (
      this.impairedSince !== null &&
      !this.escalated &&
      now - this.impairedSince > this.opts.policy.escalateAfterMs
    ) {
      this.escalated = true;
      this.opts.logger.error(
        { event: 'broker.escalation', state: this.state, impairedMs: now - this.impairedSince },
        'broker connection impaired beyond the escalation limit: manual intervention needed',
      );
      this.opts.onEscalation?.(true);
    }
  }

  private apply(input: ConnectionInput): void {
    const next = nextState(this.state, input);
    if (next === this.state) return;
    this.opts.logger.info({ event: 'broker.state', from: this.state, to: next }, `broker ${next}`);
    const cause = input.type === 'market' ? `market:${input.state}` : input.type;
    this.transitions.push({
      at: new Date(this.opts.clock.now()).toISOString(),
      from: this.state,
      to: next,
      cause: input.type === 'login' && !input.ok ? 'login:refused' : cause,
    });
    if (this.transitions.length > TRANSITIONS_KEPT) this.transitions.shift();
    this.state = next;
    if (next !== 'Active' && this.impairedSince === null) this.impairedSince = this.opts.clock.now();
    this.opts.onStateChange?.(next);
  }

  private clearImpaired(): void {
    if (this.impairedSince === null) return;
    this.impairedSince = null;
    if (this.escalated) {
      this.escalated = false;
      this.opts.logger.info({ event: 'broker.recovered' }, 'broker connection recovered');
      this.opts.onEscalation?.(false);
    }
  }

  private clearTimers(): void {
    this.opts.clock.cancel(this.reconnectTimer);
    this.opts.clock.cancel(this.attemptTimer);
    this.reconnectTimer = null;
    this.attemptTimer = null;
  }
}
