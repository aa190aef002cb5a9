import { secs } from './util.js';

export type Profile = 'short' | 'full';

/** One measured assertion: what was checked, whether it held, and the numbers behind the verdict. */
export interface CheckResult {
  name: string;
  pass: boolean;
  /** One line a person can act on. */
  detail: string;
  measured?: unknown;
}

/** What /health (and the supervisor's status) said while something was broken, as runs of equal answers. */
export interface HealthRecord {
  /** What was broken, e.g. 'journal folder read-only'. */
  during: string;
  service: string;
  /** Milliseconds from the fault's start. */
  runs: { fromMs: number; toMs: number; said: string }[];
}

export interface ScenarioResult {
  name: string;
  title: string;
  findings: number[];
  profile: Profile;
  startedAt: string;
  durationMs: number;
  /** pass: every check held; fail: one did not; error: the scenario could not run to its end (also a failure). */
  status: 'pass' | 'fail' | 'error';
  error?: string;
  checks: CheckResult[];
  health: HealthRecord[];
  /** Service → milliseconds from the end of the fault to healthy again (null: not within its objective). */
  recovery: Record<string, number | null>;
  /** Load applied and anything else worth keeping (trades per second, orders sent, ...). */
  notes: Record<string, unknown>;
  /** The commit it ran (with `+uncommitted-src` when src/ had changes); set when the results are written. */
  commit?: string | null;
}

export interface Scenario {
  name: string;
  title: string;
  /** The numbered findings this scenario reproduces (empty for the baseline faults). */
  findings: number[];
  profiles: Profile[];
  /** Upper bound of its wall time, per profile: the test's timeout. */
  budgetMs: (profile: Profile) => number;
  run(ctx: ScenarioContext): Promise<void>;
}

/**
 * What a scenario works with: its profile, a log, `check()` to record verdicts, `defer()` for
 * cleanups that run in reverse order whatever happens, and the result being built.
 */
export class ScenarioContext {
  readonly result: ScenarioResult;
  private readonly cleanups: { what: string; fn: () => unknown }[] = [];
  private readonly t0 = Date.now();

  constructor(
    readonly scenario: Scenario,
    readonly profile: Profile,
    private readonly out: (line: string) => void,
  ) {
    this.result = {
      name: scenario.name,
      title: scenario.title,
      findings: scenario.findings,
      profile,
      startedAt: new Date().toISOString(),
      durationMs: 0,
      status: 'error',
      checks: [],
      health: [],
      recovery: {},
      notes: {},
    };
  }

  get full(): boolean {
    return this.profile === 'full';
  }

  /** Picks the short or the full value. */
  pick<T>(short: T, full: T): T {
    return this.full ? full : short;
  }

  log(message: string): void {
    const t = ((Date.now() - this.t0) / 1000).toFixed(1).padStart(6);
    this.out(`  [${this.scenario.name} +${t}s] ${message}`);
  }

  check(name: string, pass: boolean, detail: string, measured?: unknown): boolean {
    this.result.checks.push({ name, pass, detail, ...(measured !== undefined && { measured }) });
    this.out(`    ${pass ? 'PASS' : 'FAIL'}  ${name}: ${detail}`);
    return pass;
  }

  note(key: string, value: unknown): void {
    this.result.notes[key] = value;
  }

  recovered(service: string, ms: number | null): void {
    this.result.recovery[service] = ms;
  }

  health(record: HealthRecord): void {
    this.result.health.push(record);
    const said = record.runs.map((r) => `${secs(r.fromMs)}..${secs(r.toMs)} ${r.said}`).join(' | ');
    this.out(`    /health of ${record.service} during ${record.during}: ${said || '(no sample)'}`);
  }

  /** Runs at the end, newest first, even when the scenario throws. */
  defer(what: string, fn: () => unknown): void {
    this.cleanups.push({ what, fn });
  }

  async runCleanups(): Promise<void> {
    for (const { what, fn } of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        this.out(`  [${this.scenario.name}] cleanup '${what}' failed: ${(err as Error).message}`);
        this.result.notes[`cleanupFailed:${what}`] = (err as Error).message;
      }
    }
  }

  finish(error?: unknown): ScenarioResult {
    this.result.durationMs = Date.now() - this.t0;
    if (error !== undefined) {
      this.result.status = 'error';
      this.result.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
    } else if (this.result.checks.length === 0) {
      this.result.status = 'error';
      this.result.error = 'the scenario recorded no check';
    } else {
      this.result.status = this.result.checks.every((c) => c.pass) ? 'pass' : 'fail';
    }
    return this.result;
  }
}

/** Runs one scenario to its end: cleanups always run, and any throw becomes an 'error' result. */
export async function runScenario(
  scenario: Scenario,
  profile: Profile,
  out: (line: string) => void,
): Promise<ScenarioResult> {
  const ctx = new ScenarioContext(scenario, profile, out);
  out(
    `\n=== ${scenario.name} (${profile}; findings: ${scenario.findings.join(', ') || 'baseline'}): ${scenario.title}`,
  );
  let error: unknown;
  try {
    await scenario.run(ctx);
  } catch (err) {
    error = err;
    out(`  [${scenario.name}] ERROR: ${(err as Error).message}`);
  }
  await ctx.runCleanups();
  const result = ctx.finish(error);
  const failed = result.checks.filter((c) => !c.pass).length;
  out(
    `=== ${scenario.name}: ${result.status.toUpperCase()} in ${secs(result.durationMs)} ` +
      `(${result.checks.length - failed}/${result.checks.length} checks passed)`,
  );
  return result;
}
