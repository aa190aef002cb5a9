/** A scheduled call, as `Clock.after` and `Clock.every` return it. */
export interface Timer {
  /** Lets the process exit while this timer is pending (Node's `unref`). */
  unref(): Timer;
}

/**
 * The one source of "now" and of timers, so tests can move time (log rotation, sessions, ack
 * timeouts, polls, backoff) instead of waiting for it.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): Timer;
  /** Calls `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Timer;
  /** Stops a timer; a timer already fired or cancelled, or none, is ignored. */
  cancel(timer: Timer | null | undefined): void;
  /** Resolves `ms` from now. */
  sleep(ms: number): Promise<void>;
}

/** Real time: Node's own timers, whose handles are the `Timer`s (no wrapper per timer). */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }
  after(ms: number, fn: () => void): Timer {
    return setTimeout(fn, ms);
  }
  every(ms: number, fn: () => void): Timer {
    return setInterval(fn, ms);
  }
  cancel(timer: Timer | null | undefined): void {
    // clearTimeout clears intervals too.
    clearTimeout((timer ?? undefined) as NodeJS.Timeout | undefined);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

export const systemClock: Clock = new SystemClock();

interface ManualTimer extends Timer {
  at: number;
  /** Order of scheduling: timers due at the same instant fire in it. */
  order: number;
  /** 0 for a one-shot timer. */
  interval: number;
  fn: () => void;
}

/**
 * A clock tests move by hand. `advance` fires the timers that fall due, in time order, each with
 * `now()` at its own instant; `set` jumps without firing anything (a wall-clock change).
 */
export class ManualClock implements Clock {
  private readonly timers = new Set<ManualTimer>();
  private scheduled = 0;

  constructor(private current = Date.now()) {}
  now(): number {
    return this.current;
  }
  set(epochMs: number): void {
    this.current = epochMs;
  }
  advance(ms: number): void {
    const until = this.current + ms;
    for (let t = this.nextDue(until); t; t = this.nextDue(until)) this.fire(t);
    this.current = until;
  }
  /**
   * `advance`, letting promise callbacks and I/O of the same process run after each timer (a
   * timer that starts async work, such as a broker call, sees it finish before the next one fires).
   */
  async advanceAsync(ms: number): Promise<void> {
    const until = this.current + ms;
    await settle();
    for (let t = this.nextDue(until); t; t = this.nextDue(until)) {
      this.fire(t);
      await settle();
    }
    this.current = until;
  }
  /** How many timers are waiting. */
  get pending(): number {
    return this.timers.size;
  }

  after(ms: number, fn: () => void): Timer {
    return this.schedule(ms, fn, 0);
  }
  every(ms: number, fn: () => void): Timer {
    return this.schedule(ms, fn, Math.max(1, ms));
  }
  cancel(timer: Timer | null | undefined): void {
    if (timer) this.timers.delete(timer as ManualTimer);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  private schedule(ms: number, fn: () => void, interval: number): ManualTimer {
    const timer: ManualTimer = {
      at: this.current + Math.max(0, ms),
      order: this.scheduled++,
      interval,
      fn,
      unref: () => timer,
    };
    this.timers.add(timer);
    return timer;
  }

  private nextDue(until: number): ManualTimer | undefined {
    let next: ManualTimer | undefined;
    for (const t of this.timers) {
      if (t.at <= until && (!next || t.at < next.at || (t.at === next.at && t.order < next.order))) next = t;
    }
    return next;
  }

  private fire(t: ManualTimer): void {
    this.current = Math.max(this.current, t.at);
    if (t.interval > 0) {
      t.at += t.interval;
      t.order = this.scheduled++;
    } else this.timers.delete(t);
    t.fn();
  }
}

/** Lets pending promise callbacks and ready I/O run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
