import type { ScenarioContext } from './scenario.js';
import type { ChaosSystem, ServiceName } from './system.js';
import { secs, sleep } from './util.js';

export interface Sample {
  t: number;
  /** HTTP status of /health, null when nothing answered. */
  http: number | null;
  status: string;
  failing: string[];
  /** The supervisor's state for the service, null when the supervisor did not answer. */
  sup: string | null;
  pid: number | null;
}

const HARD_STOP_MS = 60 * 60_000;

/**
 * Polls every service's /health and the supervisor's status in the background, so a scenario can
 * say afterwards what each one said while it was broken and when it was healthy again. Bounded:
 * it stops by itself after an hour.
 */
export class Watch {
  readonly samples = new Map<ServiceName, Sample[]>();
  /** When the supervisor's control endpoint answered, and when it did not. */
  readonly supervisor: { t: number; answered: boolean; pid: number | null }[] = [];
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly sys: ChaosSystem,
    private readonly everyMs = 500,
  ) {
    for (const s of sys.services) this.samples.set(s, []);
  }

  start(): this {
    if (this.running) return this;
    this.running = true;
    const until = Date.now() + HARD_STOP_MS;
    this.loop = (async () => {
      while (this.running && Date.now() < until) {
        const t = Date.now();
        await this.sampleOnce(t);
        await sleep(this.everyMs - (Date.now() - t));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async sampleOnce(t: number): Promise<void> {
    const [status, ...answers] = await Promise.all([
      this.sys.status(1_000),
      ...this.sys.services.map((s) => this.sys.health(s, 1_500)),
    ]);
    this.supervisor.push({ t, answered: status !== null, pid: status?.pid ?? null });
    for (const [i, s] of this.sys.services.entries()) {
      const a = answers[i];
      if (!a) continue;
      const p = status?.processes.find((x) => x.name === s);
      this.samples.get(s)?.push({
        t,
        http: a.http,
        status: a.status,
        failing: a.failing,
        sup: status ? (p?.state ?? 'absent') : null,
        pid: p?.pid ?? null,
      });
    }
  }

  /** Healthy in every sense: /health ok and the supervisor says healthy. */
  static ok(s: Sample): boolean {
    return s.http === 200 && s.status === 'ok' && s.sup === 'healthy';
  }

  /** Serving: /health answers 200 (ok or degraded) and the supervisor shows it up. */
  static serving(s: Sample): boolean {
    return s.http === 200 && (s.sup === 'healthy' || s.sup === 'degraded');
  }

  /** What a sample said, in words. */
  static said(s: Sample): string {
    const health =
      s.http === null
        ? '/health no answer'
        : `/health ${s.http} ${s.status}${s.failing.length ? ` [${s.failing.join('; ')}]` : ''}`;
    return `${health}; supervisor: ${s.sup ?? 'no answer'}`;
  }

  between(service: ServiceName, from: number, to: number): Sample[] {
    return (this.samples.get(service) ?? []).filter((s) => s.t >= from && s.t <= to);
  }

  /** Consecutive equal answers merged, times relative to `from` (at most 40 runs kept). */
  runs(service: ServiceName, from: number, to: number): { fromMs: number; toMs: number; said: string }[] {
    const out: { fromMs: number; toMs: number; said: string }[] = [];
    for (const s of this.between(service, from, to)) {
      // Numbers inside details (lags, counts) change every sample: compare without them.
      const said = Watch.said(s);
      const last = out.at(-1);
      if (last && last.said.replace(/\d+/g, '#') === said.replace(/\d+/g, '#')) last.toMs = s.t - from;
      else out.push({ fromMs: s.t - from, toMs: s.t - from, said });
    }
    return out.length > 40
      ? [...out.slice(0, 20), { fromMs: 0, toMs: 0, said: `… ${out.length - 40} more …` }, ...out.slice(-20)]
      : out;
  }

  /** Records into the result what a service said between two instants. */
  record(ctx: ScenarioContext, service: ServiceName, during: string, from: number, to: number): void {
    ctx.health({ during, service, runs: this.runs(service, from, to) });
  }

  /**
   * The first instant at or after `since` from which the service answered ok `stable` samples in a
   * row; null when it has not (yet).
   */
  recoveredAt(
    service: ServiceName,
    since: number,
    stable = 2,
    test: (s: Sample) => boolean = Watch.ok,
  ): number | null {
    const after = (this.samples.get(service) ?? []).filter((s) => s.t >= since);
    for (let i = 0; i + stable <= after.length; i++) {
      if (after.slice(i, i + stable).every(test)) return after[i]?.t ?? null;
    }
    return null;
  }

  /**
   * Waits until every service is healthy again (or its objective passes) and records, per service,
   * the time from `since` and a check against the objective.
   */
  async expectRecovery(
    ctx: ScenarioContext,
    services: readonly ServiceName[],
    since: number,
    objectiveMs: number | Partial<Record<ServiceName, number>>,
    label: string,
    /** 'serving': /health 200, ok or degraded (a fault that leaves it degraded on purpose). */
    back: 'healthy' | 'serving' = 'healthy',
  ): Promise<Record<string, number | null>> {
    const test = back === 'serving' ? Watch.serving : Watch.ok;
    const objective = (s: ServiceName) =>
      typeof objectiveMs === 'number' ? objectiveMs : (objectiveMs[s] ?? RECOVERY_OBJECTIVES_MS[s]);
    const deadline = since + Math.max(...services.map(objective)) + 2 * this.everyMs + 500;
    while (Date.now() < deadline && !services.every((s) => this.recoveredAt(s, since, 2, test) !== null)) {
      await sleep(this.everyMs);
    }
    const out: Record<string, number | null> = {};
    for (const s of services) {
      const at = this.recoveredAt(s, since, 2, test);
      const ms = at === null ? null : at - since;
      const servingAt = this.recoveredAt(s, since, 2, Watch.serving);
      const servingMs = servingAt === null ? null : servingAt - since;
      const ok = ms !== null && ms <= objective(s);
      out[s] = ms;
      ctx.recovered(s, ok ? ms : null);
      const last = this.samples.get(s)?.at(-1);
      ctx.check(
        `${s} ${back} again within ${secs(objective(s))} (${label})`,
        ok,
        ms === null
          ? `not ${back} within ${secs(objective(s))}${servingMs !== null ? ` (serving again after ${secs(servingMs)})` : ''}; last said: ${last ? Watch.said(last) : 'nothing'}`
          : `${back} after ${secs(ms)}`,
        { recoveryMs: ms, servingMs, objectiveMs: objective(s) },
      );
    }
    return out;
  }

  /**
   * /health told the truth while `service` was broken from `from` to `to`: after `graceMs` it never
   * said ok, and (with `reason`) at least one answer named the reason.
   */
  expectTruthful(
    ctx: ScenarioContext,
    opts: {
      service: ServiceName;
      during: string;
      from: number;
      to: number;
      graceMs: number;
      reason?: RegExp;
      /** A frozen or killed process cannot answer: not answering counts as truthful unless this is set. */
      mustAnswer?: boolean;
    },
  ): boolean {
    const { service, during, from, to, graceMs, reason } = opts;
    this.record(ctx, service, during, from, to);
    const samples = this.between(service, from + graceMs, to);
    const lies = samples.filter((s) => s.http === 200 && s.status === 'ok');
    const silent = samples.filter((s) => s.http === null);
    const named = reason
      ? this.between(service, from, to + 2_000).some(
          (s) => s.http !== null && s.status !== 'ok' && reason.test(s.failing.join('; ')),
        )
      : true;
    const pass = samples.length > 0 && lies.length === 0 && named && !(opts.mustAnswer && silent.length > 0);
    const problems = [
      samples.length === 0 && 'no sample taken in the window',
      lies.length > 0 && `said ok ${lies.length} of ${samples.length} times after ${secs(graceMs)}`,
      !named && `no answer named the reason (${reason})`,
      opts.mustAnswer && silent.length > 0 && `did not answer ${silent.length} of ${samples.length} times`,
    ].filter(Boolean);
    return ctx.check(
      `${service} /health told the truth during ${during}`,
      pass,
      pass
        ? `not ok in all ${samples.length} samples after ${secs(graceMs)}${reason ? `, reason named` : ''}`
        : problems.join('; '),
      { samples: samples.length, saidOk: lies.length, noAnswer: silent.length, reasonNamed: named },
    );
  }
}

/**
 * Recovery objectives: from the end of a fault (or a kill) to the service answering /health ok and
 * the supervisor showing it healthy, with no person acting. Derived from the policy the chaos
 * config runs (probe every 1 s, 3 missed probes of 2 s before a kill, backoff from 1 s) plus the
 * service's start and, for the trading services, reconnecting and reconciling.
 */
export const RECOVERY_OBJECTIVES_MS: Record<ServiceName, number> = {
  'data-capture': 20_000,
  'order-manager': 20_000,
  stream: 15_000,
  gateway: 15_000,
  'idea-bank': 15_000,
  docs: 15_000,
};
