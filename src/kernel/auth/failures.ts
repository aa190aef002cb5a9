import { createHash } from 'node:crypto';

const WINDOW_MS = 60_000;
const MAX_TRACKED_CLIENTS = 10_000;

/**
 * Failed authentications per client IP in fixed one-minute windows: the gateway and the stream
 * each keep one, and refuse an IP with 429 once it reaches the limit, before checking any key.
 */
export class FailureCounter {
  private byIp = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the client may try again, or 0 when it is not blocked. */
  blockedFor(ip: string): number {
    const entry = this.current(ip);
    return entry && entry.count >= this.max ? Math.ceil((entry.start + WINDOW_MS - this.now()) / 1000) : 0;
  }

  /** Takes back one failure counted in advance, for an attempt that succeeded after all. */
  refund(ip: string): void {
    const entry = this.current(ip);
    if (entry && entry.count > 0) entry.count -= 1;
  }

  add(ip: string): void {
    const entry = this.current(ip);
    if (entry) entry.count += 1;
    else {
      if (this.byIp.size >= MAX_TRACKED_CLIENTS) this.prune();
      this.byIp.set(ip, { start: this.now(), count: 1 });
    }
  }

  private current(ip: string) {
    const entry = this.byIp.get(ip);
    return entry && this.now() - entry.start < WINDOW_MS ? entry : undefined;
  }

  private prune(): void {
    for (const [ip, e] of this.byIp) if (this.now() - e.start >= WINDOW_MS) this.byIp.delete(ip);
    // Still full of live windows: forget the oldest rather than grow without bound.
    if (this.byIp.size >= MAX_TRACKED_CLIENTS) this.byIp.delete(this.byIp.keys().next().value ?? '');
  }
}

/** Thrown by a verification that found no free slot: the caller answers 429 at once. */
export class VerifyBusyError extends Error {
  constructor(message = 'too many key verifications in progress') {
    super(message);
    this.name = 'VerifyBusyError';
  }
}

export type AttemptOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; reason: 'failed' }
  | { ok: false; reason: 'blocked' | 'busy'; retryAfter: number };

export interface AuthGuardOptions {
  failuresPerMinute: number;
  /** Distinct credentials being verified at once for one IP. */
  concurrentPerIp: number;
  now?: () => number;
}

/**
 * The failed-authentication limit made safe under concurrency: every attempt counts as a failure
 * before it is verified and is refunded when it succeeds, so N parallel guesses cannot all pass a
 * check made before any of them failed. One IP may have only a few distinct credentials in
 * verification at once; the same credential sent again while it is being verified shares that
 * verification (a script firing parallel requests with a new key costs one scrypt, not many).
 */
export class AuthGuard {
  readonly failures: FailureCounter;
  private readonly inFlight = new Map<string, Map<string, Promise<unknown>>>();
  private anonymous = 0;

  constructor(private readonly opts: AuthGuardOptions) {
    this.failures = new FailureCounter(opts.failuresPerMinute, opts.now);
  }

  blockedFor(ip: string): number {
    return this.failures.blockedFor(ip);
  }

  /** Runs `verify` (null = wrong credential) for `credential` from `ip` under the limits. */
  async attempt<T>(
    ip: string,
    credential: string,
    verify: () => Promise<T | null>,
  ): Promise<AttemptOutcome<T>> {
    const retryAfter = this.failures.blockedFor(ip);
    if (retryAfter > 0) return { ok: false, reason: 'blocked', retryAfter };
    // Held as a digest: the secret itself is not kept in yet another map.
    // No credential at all is never shared: nothing to verify, and each such attempt is its own failure.
    const id = credential
      ? createHash('sha256').update(credential).digest('base64')
      : `none:${++this.anonymous}`;
    let mine = this.inFlight.get(ip);
    const shared = mine?.get(id) as Promise<T | null> | undefined;
    if (shared) {
      let value: T | null;
      try {
        value = await shared;
      } catch {
        return { ok: false, reason: 'busy', retryAfter: 1 };
      }
      if (value === null) this.failures.add(ip);
      return value === null ? { ok: false, reason: 'failed' } : { ok: true, value };
    }
    if (mine && mine.size >= this.opts.concurrentPerIp) return { ok: false, reason: 'busy', retryAfter: 1 };
    this.failures.add(ip);
    if (!mine) {
      mine = new Map();
      this.inFlight.set(ip, mine);
    }
    const running = verify();
    mine.set(id, running);
    try {
      const value = await running;
      if (value === null) return { ok: false, reason: 'failed' };
      this.failures.refund(ip);
      return { ok: true, value };
    } catch (err) {
      this.failures.refund(ip);
      if (err instanceof VerifyBusyError) return { ok: false, reason: 'busy', retryAfter: 1 };
      throw err;
    } finally {
      mine.delete(id);
      if (mine.size === 0) this.inFlight.delete(ip);
    }
  }
}

/**
 * At most `concurrency` tasks at once and `queue` waiting; one more is refused at once with
 * VerifyBusyError instead of waiting behind an attacker's backlog.
 */
export class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) throw new VerifyBusyError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so `running` never drops below the queue's need.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
