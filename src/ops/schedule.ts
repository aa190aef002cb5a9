import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Clock, systemClock } from '../kernel/clock.js';
import { keepAside } from '../kernel/durable-file.js';
import type { Logger } from '../kernel/logger.js';
import { localDayOf, zonedInstant } from '../kernel/time.js';

/** A job run once a day at a local wall-clock time. */
export interface DailyJob {
  name: string;
  /** `HH:MM`, local time in the scheduler's time zone. */
  at: string;
  /**
   * Run at `start()` when the latest scheduled time has passed since the last successful run
   * (the supervisor was down at 02:00, or that run failed). Off: wait for the next time.
   */
  catchUp?: boolean;
  /**
   * When the job last did its work successfully (epoch ms), if the job knows better than the
   * scheduler's own record: a backup job can answer with its newest good backup. Null: never.
   */
  lastSuccess?: () => number | null | Promise<number | null>;
  /** The work. A rejection is logged and recorded; the job runs again at its next time. */
  run(): unknown | Promise<unknown>;
}

/** What `status()` tells about one job. */
export interface DailyJobStatus {
  name: string;
  at: string;
  running: boolean;
  /** ISO-8601 of the next scheduled run. */
  nextRunAt: string;
  lastRun: JobRecord | null;
}

/** The last run of one job, kept in the state file across restarts. */
export interface JobRecord {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  error?: string;
  /** Whatever the job returned, when it is small plain data (counts, a folder name). */
  result?: unknown;
  /** `schedule` or `catch-up`. */
  trigger: 'schedule' | 'catch-up';
  /** The last successful run, kept when a later one fails. */
  lastSuccessAt?: string;
}

export interface DailyJobsOptions {
  timeZone: string;
  logger: Logger;
  /** Where the last runs are kept (JSON), e.g. `{home}/run/schedule.json`; none: memory only. */
  stateFile?: string;
  clock?: Clock;
  /** Longest sleep between checks of the time, so a clock change or a suspend is noticed soon. */
  maxSleepMs?: number;
}

const TIME = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;

/**
 * The supervisor's daily jobs (log retention, the 02:00 backup): each runs once a day at its local
 * time in the configured zone (daylight-saving days included), never twice at once, and a job
 * that asks for it is made up at start when its last scheduled run was missed. A failing job is
 * logged (`schedule.job_failed`) and never stops the scheduler or the other jobs; the last run of
 * each is kept in the state file (a write that fails is logged, not thrown).
 */
export class DailyJobs {
  private readonly jobs = new Map<string, { job: DailyJob; minute: number; nextAt: number }>();
  private readonly running = new Map<string, Promise<void>>();
  private records: Record<string, JobRecord> = {};
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;
  private readonly clock: Clock;

  constructor(private readonly opts: DailyJobsOptions) {
    this.clock = opts.clock ?? systemClock;
    this.records = this.readRecords();
  }

  add(job: DailyJob): this {
    const m = TIME.exec(job.at);
    if (!m) throw new Error(`daily job '${job.name}': time '${job.at}' is not HH:MM`);
    if (this.jobs.has(job.name)) throw new Error(`daily job '${job.name}' is already scheduled`);
    const minute = Number(m[1]) * 60 + Number(m[2]);
    const entry = { job, minute, nextAt: 0 };
    entry.nextAt = this.nextOccurrence(minute, this.clock.now());
    this.jobs.set(job.name, entry);
    return this;
  }

  /** Makes up missed runs of the jobs that ask for it, then keeps time. */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.started = true;
    const now = this.clock.now();
    for (const { job, minute } of this.jobs.values()) {
      if (!job.catchUp) continue;
      const due = this.lastOccurrence(minute, now);
      const last = await this.lastSuccessOf(job);
      if (last === null || last < due) {
        this.opts.logger.info(
          {
            event: 'schedule.catch_up',
            job: job.name,
            scheduledAt: new Date(due).toISOString(),
            lastSuccessAt: last === null ? null : new Date(last).toISOString(),
          },
          `making up the missed ${job.at} run of ${job.name}`,
        );
        void this.runJob(job.name, 'catch-up');
      }
    }
    this.arm();
  }

  /** Stops keeping time and waits for the jobs running now. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.running.values()]);
  }

  /**
   * Starts the jobs whose time has come (the timer calls it; tests with a manual clock too) and
   * resolves when those are done. The timer does not wait: a long job never delays another.
   */
  tick(): Promise<void> {
    const now = this.clock.now();
    const runs: Promise<void>[] = [];
    for (const entry of this.jobs.values()) {
      if (now < entry.nextAt) continue;
      entry.nextAt = this.nextOccurrence(entry.minute, now);
      runs.push(this.runJob(entry.job.name, 'schedule'));
    }
    return Promise.all(runs).then(() => {});
  }

  /** Runs one job now (an operator's `run now`); resolves when it is done. Refused while it runs. */
  runNow(name: string): Promise<void> {
    if (!this.jobs.has(name)) throw new Error(`no daily job named '${name}'`);
    return this.runJob(name, 'schedule');
  }

  status(): DailyJobStatus[] {
    return [...this.jobs.values()].map(({ job, nextAt }) => ({
      name: job.name,
      at: job.at,
      running: this.running.has(job.name),
      nextRunAt: new Date(nextAt).toISOString(),
      lastRun: this.records[job.name] ?? null,
    }));
  }

  private runJob(name: string, trigger: JobRecord['trigger']): Promise<void> {
    const entry = this.jobs.get(name);
    if (!entry || this.stopped) return Promise.resolve();
    const already = this.running.get(name);
    if (already) {
      this.opts.logger.warn(
        { event: 'schedule.job_overlap', job: name },
        `${name} is still running from before; this run is skipped`,
      );
      return already;
    }
    const run = this.execute(entry.job, trigger).finally(() => this.running.delete(name));
    this.running.set(name, run);
    return run;
  }

  private async execute(job: DailyJob, trigger: JobRecord['trigger']): Promise<void> {
    const started = this.clock.now();
    const { logger } = this.opts;
    logger.info({ event: 'schedule.job_started', job: job.name, trigger }, `${job.name} started`);
    let record: JobRecord;
    try {
      const result = await job.run();
      const finished = this.clock.now();
      record = {
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date(finished).toISOString(),
        ok: true,
        trigger,
        lastSuccessAt: new Date(finished).toISOString(),
        ...(isSmallPlain(result) && { result }),
      };
      logger.info(
        { event: 'schedule.job_done', job: job.name, trigger, ms: finished - started },
        `${job.name} done`,
      );
    } catch (err) {
      const previous = this.records[job.name]?.lastSuccessAt;
      record = {
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date(this.clock.now()).toISOString(),
        ok: false,
        error: (err as Error).message ?? String(err),
        trigger,
        ...(previous && { lastSuccessAt: previous }),
      };
      logger.error(
        { event: 'schedule.job_failed', job: job.name, trigger, err: record.error },
        `${job.name} failed; next run at ${job.at}`,
      );
    }
    this.records[job.name] = record;
    this.writeRecords();
  }

  private async lastSuccessOf(job: DailyJob): Promise<number | null> {
    if (job.lastSuccess) {
      try {
        return await job.lastSuccess();
      } catch (err) {
        this.opts.logger.warn(
          { event: 'schedule.last_success_unknown', job: job.name, err: (err as Error).message },
          'cannot tell when the job last succeeded; going by the schedule file',
        );
      }
    }
    const at = this.records[job.name]?.lastSuccessAt;
    const ms = at ? Date.parse(at) : Number.NaN;
    return Number.isFinite(ms) ? ms : null;
  }

  private arm(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const next = Math.min(...[...this.jobs.values()].map((e) => e.nextAt));
    const maxSleep = this.opts.maxSleepMs ?? 60_000;
    const wait = Number.isFinite(next) ? Math.max(0, Math.min(next - now, maxSleep)) : maxSleep;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
      this.arm();
    }, wait);
    this.timer.unref();
  }

  /** The first instant after `now` that is `minute` past local midnight. */
  private nextOccurrence(minute: number, now: number): number {
    const day = localDayOf(this.opts.timeZone, now);
    const today = zonedInstant(this.opts.timeZone, day.dayNumber, minute);
    return today > now ? today : zonedInstant(this.opts.timeZone, day.dayNumber + 1, minute);
  }

  /** The latest instant at or before `now` that is `minute` past local midnight. */
  private lastOccurrence(minute: number, now: number): number {
    const day = localDayOf(this.opts.timeZone, now);
    const today = zonedInstant(this.opts.timeZone, day.dayNumber, minute);
    return today <= now ? today : zonedInstant(this.opts.timeZone, day.dayNumber - 1, minute);
  }

  private readRecords(): Record<string, JobRecord> {
    if (!this.opts.stateFile) return {};
    const file = this.opts.stateFile;
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      // Only records that look like records: a hand-edited or torn entry counts as no run.
      return Object.fromEntries(
        Object.entries(parsed).filter(
          ([, r]) => r && typeof r === 'object' && typeof (r as JobRecord).startedAt === 'string',
        ),
      ) as Record<string, JobRecord>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        // Kept aside for a person to look at; the next save writes a fresh one.
        const copy = keepAside(file);
        this.opts.logger.warn(
          { event: 'schedule.state_unreadable', file, keptAs: copy, err: (err as Error).message },
          'cannot read the schedule file; jobs that make up missed runs will run now',
        );
      }
      return {};
    }
  }

  private writeRecords(): void {
    const file = this.opts.stateFile;
    if (!file) return;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(tmp, JSON.stringify(this.records, null, 2));
      renameSync(tmp, file);
    } catch (err) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // Its folder cannot be reached either: nothing was left there.
      }
      this.opts.logger.error(
        { event: 'schedule.state_write_failed', file, err: (err as Error).message },
        'cannot save the last runs of the daily jobs',
      );
    }
  }
}

function isSmallPlain(value: unknown): boolean {
  if (value === undefined || typeof value === 'function') return false;
  try {
    return JSON.stringify(value).length <= 2_000;
  } catch {
    return false;
  }
}
