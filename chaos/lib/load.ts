import type { ChaosSystem } from './system.js';
import { sleep } from './util.js';

/** What the client saw for one clientOrderId. */
export type Outcome =
  | { kind: 'created' | 'known'; id: string; at: number }
  | { kind: 'refused'; status: number; code: string; at: number }
  | { kind: 'none'; at: number; error: string };

const MAX_IN_FLIGHT = 64;

/**
 * Orders posted to the order manager at a steady rate (like a strategy or a desk), each with a
 * unique clientOrderId: MARKET buys and sells on WIN and WDO that fill, and LIMITs far from the
 * market that rest. It ends by itself at `until`.
 */
export class OrderLoad {
  readonly outcomes = new Map<string, Outcome>();
  private running = false;
  private loop: Promise<void> | null = null;
  private inFlight = 0;
  private skipped = 0;
  private n = 0;

  constructor(
    private readonly sys: ChaosSystem,
    private readonly opts: { perSecond: number; prefix: string; until: number },
  ) {}

  start(): this {
    this.running = true;
    const period = 1000 / this.opts.perSecond;
    const t0 = Date.now();
    this.loop = (async () => {
      const pending = new Set<Promise<void>>();
      for (let i = 0; this.running && Date.now() < this.opts.until; i++) {
        await sleep(t0 + i * period - Date.now());
        if (this.inFlight >= MAX_IN_FLIGHT) {
          this.skipped += 1;
          continue;
        }
        const p = this.sendOne();
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      await Promise.all(pending);
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** The n-th order: MARKET both ways, and a LIMIT far from the market every third, on WIN and WDO. */
  body(n: number): Record<string, unknown> {
    const wdo = n % 2 === 1;
    const side = n % 4 < 2 ? 'BUY' : 'SELL';
    const symbol = wdo ? 'WDOZ26' : 'WINZ26';
    const clientOrderId = `${this.opts.prefix}-${n}`;
    if (n % 3 !== 0) return { symbol, side, type: 'MARKET', quantity: 1, clientOrderId };
    const far = wdo ? (side === 'BUY' ? 4_000 : 7_000) : side === 'BUY' ? 100_000 : 160_000;
    return { symbol, side, type: 'LIMIT', price: far, quantity: 1, clientOrderId };
  }

  private async sendOne(): Promise<void> {
    const body = this.body(this.n++);
    const id = String(body.clientOrderId);
    this.inFlight += 1;
    try {
      const r = await this.sys.call('order-manager', 'POST', '/api/orders', body, {}, 10_000);
      const at = Date.now();
      if (r.status === 201 || r.status === 200)
        this.outcomes.set(id, { kind: r.status === 201 ? 'created' : 'known', id: r.body?.data?.id, at });
      else if (r.status === 0) this.outcomes.set(id, { kind: 'none', at, error: r.error ?? 'no answer' });
      else this.outcomes.set(id, { kind: 'refused', status: r.status, code: r.body?.error?.code ?? '?', at });
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Outcomes between two instants (by answer time). */
  between(from: number, to: number): Outcome[] {
    return [...this.outcomes.values()].filter((o) => o.at >= from && o.at <= to);
  }

  stats(): Record<string, unknown> {
    const by: Record<string, number> = {};
    for (const o of this.outcomes.values()) {
      const key = o.kind === 'refused' ? `refused ${o.status} ${o.code}` : o.kind;
      by[key] = (by[key] ?? 0) + 1;
    }
    return { sent: this.outcomes.size, skippedTooManyInFlight: this.skipped, ...by };
  }
}

/** Ideas posted to the idea bank at a steady rate, with an Idempotency-Key each (finding 7). */
export class IdeaLoad {
  /** title → id, for every idea answered 201 (or 200: a retry the bank recognised). */
  readonly created = new Map<string, string>();
  readonly unanswered: string[] = [];
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly sys: ChaosSystem,
    private readonly opts: { perSecond: number; prefix: string; until: number },
  ) {}

  static body(title: string) {
    return {
      title,
      description: `chaos idea ${title}`,
      category: 'analise-dados',
      priority: 'low',
      tags: ['chaos'],
    };
  }

  start(): this {
    this.running = true;
    const period = 1000 / this.opts.perSecond;
    this.loop = (async () => {
      for (let i = 0; this.running && Date.now() < this.opts.until; i++) {
        const t = Date.now();
        const title = `${this.opts.prefix}-${i}`;
        const r = await this.sys.call('idea-bank', 'POST', '/api/items', IdeaLoad.body(title), {
          'idempotency-key': title,
        });
        if (r.status === 201 || r.status === 200)
          this.created.set(title, String(r.body?.data?.id ?? r.body?.id));
        else if (r.status === 0 || r.status >= 500) this.unanswered.push(title);
        await sleep(period - (Date.now() - t));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
