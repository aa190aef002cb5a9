import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../kernel/logger.js';
import type { Channel, ChannelRequest, Notification, NotifyEvent, Severity } from './channels.js';

export interface NotifierOptions {
  channels: Channel[];
  logger: Logger;
  /** Kinds that are sent; undefined: all. */
  events?: readonly string[];
  /** Events below this are not sent anywhere. */
  minSeverity?: Severity;
  /** An active condition is sent again after this long (0: once until it clears). */
  repeatAfterMs?: number;
  maxAttempts?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  timeoutMs?: number;
  /** Notifications waiting per channel; beyond it the oldest is dropped. */
  queueSize?: number;
  /** Names this installation (PagerDuty `source`). */
  source: string;
  /**
   * Where the active conditions are kept across supervisor restarts (JSON), so one that cleared
   * while the supervisor was down is still resolved; none: memory only.
   */
  stateFile?: string;
  now?: () => number;
}

interface Active {
  event: NotifyEvent;
  since: number;
  lastSentAt: number;
}

export interface ChannelStatus {
  name: string;
  minSeverity: Severity;
  queued: number;
  sending: boolean;
  sent: number;
  failed: number;
  dropped: number;
  lastError: string | null;
}

/** What `status` shows: channel names and counts, never a URL or a key. */
export interface NotifierStatus {
  channels: ChannelStatus[];
  active: { key: string; kind: string; severity: Severity; service?: string; since: string }[];
}

const RANK: Record<Severity, number> = { warning: 0, critical: 1 };
/** Longest wait between two checks for conditions due a reminder. */
const REPEAT_CHECK_MAX_MS = 60_000;
/** Of an error answer, this much goes into the log (scrubbed). */
const ANSWER_LOG_CHARS = 300;

/** One channel's queue and its single sender, so it keeps order and a slow channel delays no other. */
class Lane {
  readonly queue: Notification[] = [];
  sending = false;
  sent = 0;
  failed = 0;
  dropped = 0;
  lastError: string | null = null;
  idle: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;

  constructor(readonly channel: Channel) {}

  started(): void {
    this.idle = new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  finished(): void {
    this.wake?.();
    this.wake = null;
  }
}

/**
 * Sends the system's own conditions to the configured channels, fire-and-forget: `trigger` and
 * `resolve` return at once and never throw, each channel has a bounded queue and one sender that
 * retries network errors, 5xx and 429 (after Retry-After when given) with exponential backoff up
 * to `maxAttempts`, and never retries another 4xx. A key is sent once while it stays active (again
 * when its severity changes, or after `repeatAfterMs`); its resolve goes out when it clears.
 * Secrets are read by the channels at each send and scrubbed from everything logged.
 */
export class Notifier {
  private readonly lanes: Lane[];
  private readonly active = new Map<string, Active>();
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly repeatTimer: NodeJS.Timeout | null = null;
  private stateWriteFailing = false;
  private stopped = false;

  constructor(private readonly opts: NotifierOptions) {
    this.now = opts.now ?? Date.now;
    this.lanes = opts.channels.map((c) => new Lane(c));
    this.readState();
    const repeat = opts.repeatAfterMs ?? 0;
    if (repeat > 0 && this.lanes.length > 0) {
      this.repeatTimer = setInterval(() => this.remind(), Math.min(repeat, REPEAT_CHECK_MAX_MS));
      this.repeatTimer.unref();
    }
  }

  /** The condition `event.key` is active: sent unless it already was (see the class comment). */
  trigger(event: NotifyEvent): void {
    try {
      if (this.stopped) return;
      if (!this.wanted(event)) {
        // Now below what is sent (a disk back from critical to warning): cleared for the receivers.
        if (this.active.has(event.key)) this.resolve(event.key);
        return;
      }
      const now = this.now();
      const known = this.active.get(event.key);
      if (known && known.event.severity === event.severity && !this.dueReminder(known, now)) {
        known.event = event;
        return;
      }
      this.active.set(event.key, { event, since: known?.since ?? now, lastSentAt: now });
      this.saveState();
      const n = this.notification('trigger', event, now, known !== undefined);
      for (const lane of this.lanes) {
        const was = known ? this.reaches(lane, known.event.severity) : false;
        if (this.reaches(lane, event.severity)) this.enqueue(lane, n);
        // A channel that no longer takes this severity had it open: close it there.
        else if (was) this.enqueue(lane, { ...n, id: randomUUID(), action: 'resolve', repeat: false });
      }
    } catch (err) {
      this.opts.logger.error(
        { event: 'notify.error', err: (err as Error).message },
        'notification not queued',
      );
    }
  }

  /** The condition `key` has cleared: its resolve goes where its trigger went. Unknown keys: nothing. */
  resolve(key: string, summary?: string): void {
    try {
      const known = this.active.get(key);
      if (!known || this.stopped) return;
      this.active.delete(key);
      this.saveState();
      const event = { ...known.event, summary: summary ?? `resolved: ${known.event.summary}` };
      const n = this.notification('resolve', event, this.now(), false);
      for (const lane of this.lanes) if (this.reaches(lane, known.event.severity)) this.enqueue(lane, n);
    } catch (err) {
      this.opts.logger.error({ event: 'notify.error', err: (err as Error).message }, 'resolve not queued');
    }
  }

  isActive(key: string): boolean {
    return this.active.has(key);
  }

  status(): NotifierStatus {
    return {
      channels: this.lanes.map((l) => ({
        name: l.channel.name,
        minSeverity: this.minOf(l),
        queued: l.queue.length,
        sending: l.sending,
        sent: l.sent,
        failed: l.failed,
        dropped: l.dropped,
        lastError: l.lastError,
      })),
      active: [...this.active.values()].map(({ event, since }) => ({
        key: event.key,
        kind: event.kind,
        severity: event.severity,
        ...(event.service && { service: event.service }),
        since: new Date(since).toISOString(),
      })),
    };
  }

  /** Resolves once every queue is empty and nothing is being sent (tests, shutdown). */
  async idle(): Promise<void> {
    for (let i = 0; i < 1_000 && this.lanes.some((l) => l.sending || l.queue.length > 0); i++) {
      await Promise.all(this.lanes.map((l) => l.idle));
    }
  }

  /**
   * Gives what is queued up to `graceMs` to go out, then abandons the rest (logged): a supervisor
   * stopping must not hang on an unreachable Slack.
   */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.repeatTimer) clearInterval(this.repeatTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.idle(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.abort.abort();
    for (const lane of this.lanes) {
      if (lane.queue.length > 0) {
        this.opts.logger.warn(
          { event: 'notify.abandoned', channel: lane.channel.name, count: lane.queue.length },
          'notifications not sent before the supervisor stopped',
        );
        lane.queue.length = 0;
      }
    }
    await this.idle();
  }

  private wanted(event: NotifyEvent): boolean {
    const { events, minSeverity = 'critical' } = this.opts;
    if (events && !events.includes(event.kind)) return false;
    return RANK[event.severity] >= RANK[minSeverity];
  }

  private minOf(lane: Lane): Severity {
    return lane.channel.minSeverity ?? this.opts.minSeverity ?? 'critical';
  }

  private reaches(lane: Lane, severity: Severity): boolean {
    return RANK[severity] >= RANK[this.minOf(lane)];
  }

  private dueReminder(a: Active, now: number): boolean {
    const every = this.opts.repeatAfterMs ?? 0;
    return every > 0 && now - a.lastSentAt >= every;
  }

  private remind(): void {
    const now = this.now();
    for (const a of [...this.active.values()]) if (this.dueReminder(a, now)) this.trigger(a.event);
  }

  private notification(action: Notification['action'], event: NotifyEvent, at: number, repeat: boolean) {
    return { id: randomUUID(), action, event, at, repeat, source: this.opts.source };
  }

  private enqueue(lane: Lane, n: Notification): void {
    const max = this.opts.queueSize ?? 100;
    while (lane.queue.length >= max) {
      const old = lane.queue.shift();
      lane.dropped += 1;
      this.opts.logger.error(
        { event: 'notify.dropped', channel: lane.channel.name, key: old?.event.key, action: old?.action },
        'notification queue full: oldest dropped',
      );
    }
    lane.queue.push(n);
    if (!lane.sending) void this.drain(lane);
  }

  private async drain(lane: Lane): Promise<void> {
    lane.sending = true;
    lane.started();
    try {
      for (let n = lane.queue.shift(); n; n = lane.queue.shift()) {
        await this.deliver(lane, n);
      }
    } finally {
      lane.sending = false;
      lane.finished();
    }
  }

  /** One notification to one channel, with its tries. Never throws. */
  private async deliver(lane: Lane, n: Notification): Promise<void> {
    const { logger } = this.opts;
    const channel = lane.channel.name;
    const maxAttempts = this.opts.maxAttempts ?? 5;
    const log = { channel, key: n.event.key, kind: n.event.kind, action: n.action, id: n.id };
    let req: ChannelRequest;
    try {
      req = lane.channel.request(n);
    } catch (err) {
      // A missing secret or a bad URL: no try can succeed until a person fixes it.
      const reason = (err as Error).message;
      this.failed(lane, log, reason, 0);
      return;
    }
    const scrub = (text: string) => scrubSecrets(text, req.secrets);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (this.abort.signal.aborted) return;
      let reason: string;
      let waitMs = this.backoff(attempt);
      try {
        const res = await fetch(req.url, {
          method: 'POST',
          headers: req.headers,
          body: req.body,
          redirect: 'error',
          signal: AbortSignal.any([AbortSignal.timeout(this.opts.timeoutMs ?? 10_000), this.abort.signal]),
        });
        const answer = await res.text().catch(() => '');
        if (res.ok) {
          lane.sent += 1;
          lane.lastError = null;
          logger.info(
            { event: 'notify.sent', ...log, attempt, status: res.status },
            `notification sent to ${channel}`,
          );
          return;
        }
        reason = `HTTP ${res.status}${answer ? `: ${scrub(answer.slice(0, ANSWER_LOG_CHARS))}` : ''}`;
        if (res.status !== 429 && res.status !== 408 && res.status < 500) {
          this.failed(lane, log, reason, attempt);
          return;
        }
        const after = retryAfterMs(res.headers.get('retry-after'), this.now());
        if (after !== null) waitMs = Math.min(after, this.opts.retryMaxMs ?? 60_000);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        reason = scrub(errorText(err));
      }
      if (attempt === maxAttempts) {
        this.failed(lane, log, `gave up after ${attempt} tries: ${reason}`, attempt);
        return;
      }
      logger.warn(
        { event: 'notify.retry', ...log, attempt, reason, retryInMs: waitMs },
        `retrying ${channel}`,
      );
      await sleep(waitMs, this.abort.signal);
    }
  }

  private failed(lane: Lane, log: Record<string, unknown>, reason: string, attempts: number): void {
    lane.failed += 1;
    lane.lastError = reason;
    this.opts.logger.error(
      { event: 'notify.failed', ...log, attempts, reason },
      `notification to ${lane.channel.name} failed`,
    );
  }

  private backoff(attempt: number): number {
    const initial = this.opts.retryInitialMs ?? 1_000;
    return Math.min(initial * 2 ** (attempt - 1), this.opts.retryMaxMs ?? 60_000);
  }

  private readState(): void {
    const file = this.opts.stateFile;
    if (!file) return;
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Active>;
      for (const [key, a] of Object.entries(saved)) {
        if (a && typeof a.since === 'number' && a.event && typeof a.event.summary === 'string')
          this.active.set(key, a);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.opts.logger.warn(
          { event: 'notify.state_unreadable', file, err: (err as Error).message },
          'cannot read the active notifications; starting without them',
        );
    }
  }

  private saveState(): void {
    const file = this.opts.stateFile;
    if (!file) return;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.active)));
      renameSync(tmp, file);
      this.stateWriteFailing = false;
    } catch (err) {
      // Memory still holds them; only a restart before the next good write forgets them.
      if (!this.stateWriteFailing)
        this.opts.logger.error(
          { event: 'notify.state_write_failed', file, err: (err as Error).message },
          'cannot save the active notifications',
        );
      this.stateWriteFailing = true;
    }
  }
}

/** Retry-After in ms: seconds, or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | null {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1_000);
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

export function scrubSecrets(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

/** fetch's "fetch failed" says nothing; its cause does (ECONNREFUSED, a timeout). */
function errorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'timed out';
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message}: ${cause}` : e.message;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
