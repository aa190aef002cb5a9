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
