import { appendFileSync, closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../../kernel/config.js';
import { formatBytes } from '../../kernel/disk.js';
import type { Logger } from '../../kernel/logger.js';
import { localDayOf } from '../../kernel/time.js';
import type { DailyJob } from '../schedule.js';
import { UsageError, wholeNumber, withUsage } from './args.js';

/** A service's daily log, `logs/{service}/{YYYY-MM-DD}.jsonl`, the date local to `config.timezone`. */
const DAILY_LOG = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
/**
 * `logs/supervisor/console.out` (what a detached supervisor prints: its state lines and, should it
 * ever crash, its last words) is one file appended to for as long as the installation lives. It
 * is not dated, so retention by date does not apply; past CONSOLE_MAX_BYTES it is cut to its last
 * CONSOLE_KEEP_BYTES in place (the supervisor appends with O_APPEND, so it goes on writing at the
 * new end).
 */
export const CONSOLE_FILE = path.join('supervisor', 'console.out');
export const CONSOLE_MAX_BYTES = 10 * 1024 * 1024;
export const CONSOLE_KEEP_BYTES = 1024 * 1024;

const DAY_MS = 86_400_000;

export interface LogFile {
  /** Relative to the data home, e.g. `logs/gateway/2026-10-01.jsonl`. */
  file: string;
  service: string;
  date: string;
  bytes: number;
}

export interface CleanLogsOptions {
  days: number;
  timeZone: string;
  now?: number;
  dryRun?: boolean;
}

export interface CleanLogsResult {
  /** Today in the time zone: its files are never touched. */
  today: string;
  /** Files dated before this are removed. */
  cutoff: string;
  dryRun: boolean;
  /** Removed (or, in a dry run, to be removed). */
  removed: LogFile[];
  /** Daily files kept because they are recent enough. */
  kept: number;
  /** Old by name but written to today (a clock set back, a file copied in): left alone. */
  skipped: { file: string; reason: string }[];
  failed: { file: string; error: string }[];
  /** console.out cut down to its last part (or to be, in a dry run). */
  trimmed: { file: string; fromBytes: number; toBytes: number } | null;
}

/**
 * Removes the daily log files of every service (`{home}/logs/{service}/{YYYY-MM-DD}.jsonl`) dated
 * more than `days` days before today in `timeZone`: with `days` 30 on 2026-12-10, files of
 * 2026-11-10 and later stay. Today's files are never touched, nor one written to today whatever
 * its name. Files that are not daily logs are left alone, except `supervisor/console.out`, which is
 * cut down past CONSOLE_MAX_BYTES. A file that cannot be removed is reported, and the rest go on.
 */
export async function cleanLogs(home: string, opts: CleanLogsOptions): Promise<CleanLogsResult> {
  const now = opts.now ?? Date.now();
  const dryRun = opts.dryRun ?? false;
  const day = localDayOf(opts.timeZone, now);
  const cutoff = new Date((day.dayNumber - opts.days) * DAY_MS).toISOString().slice(0, 10);
  const result: CleanLogsResult = {
    today: day.date,
    cutoff,
    dryRun,
    removed: [],
    kept: 0,
    skipped: [],
    failed: [],
    trimmed: null,
  };
  const logs = path.join(home, 'logs');
  for (const service of (await entries(logs)).sort()) {
    const dir = path.join(logs, service);
    for (const name of (await entries(dir)).sort()) {
      const date = DAILY_LOG.exec(name)?.[1];
      if (!date) continue;
      const file = path.join(dir, name);
      const rel = path.relative(home, file);
      let stat: Awaited<ReturnType<typeof lstat>>;
      try {
        stat = await lstat(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          result.failed.push({ file: rel, error: (err as Error).message });
        continue;
      }
      if (!stat.isFile()) continue;
      if (date >= cutoff || date >= day.date) {
        result.kept += 1;
        continue;
      }
      if (stat.mtimeMs >= day.startTs) {
        result.skipped.push({ file: rel, reason: `dated ${date} but written to today` });
        continue;
      }
      const entry = { file: rel, service, date, bytes: stat.size };
      if (!dryRun) {
        try {
          await rm(file);
        } catch (err) {
          result.failed.push({ file: rel, error: (err as Error).message });
          continue;
        }
      }
      result.removed.push(entry);
    }
  }
  try {
    result.trimmed = trimConsole(path.join(logs, CONSOLE_FILE), home, dryRun, now);
  } catch (err) {
    result.failed.push({ file: path.join('logs', CONSOLE_FILE), error: (err as Error).message });
  }
  return result;
}

/** Cuts console.out to its last CONSOLE_KEEP_BYTES (from a line start) once it passes CONSOLE_MAX_BYTES. */
function trimConsole(file: string, home: string, dryRun: boolean, now: number): CleanLogsResult['trimmed'] {
  let fd: number;
  try {
    fd = openSync(file, dryRun ? 'r' : 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    // The size of the file we hold open: the one we cut, even if it was replaced meanwhile.
    const size = fstatSync(fd).size;
    if (size <= CONSOLE_MAX_BYTES) return null;
    const rel = path.relative(home, file);
    const tail = Buffer.alloc(CONSOLE_KEEP_BYTES);
    const got = readSync(fd, tail, 0, CONSOLE_KEEP_BYTES, size - CONSOLE_KEEP_BYTES);
    const firstLine = tail.indexOf(0x0a) + 1;
    const kept = tail.subarray(firstLine, got);
    const marker = Buffer.from(
      `[${new Date(now).toISOString()} tradingsystem clean-logs: cut ${size - kept.length} older bytes]\n`,
    );
    if (!dryRun) {
      ftruncateSync(fd, 0);
      // Appended, like the supervisor's own lines: one it writes meanwhile is not overwritten.
      appendFileSync(file, Buffer.concat([marker, kept]));
    }
    return { file: rel, fromBytes: size, toBytes: marker.length + kept.length };
  } finally {
    closeSync(fd);
  }
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return [];
    throw err;
  }
}

/** The supervisor's daily job: `log.retentionDays` at `log.cleanAt`, made up at start if missed. */
export function logRetentionJob(config: Config, logger: Logger): DailyJob {
  return {
    name: 'clean-logs',
    at: config.log.cleanAt,
    catchUp: true,
    async run() {
      const r = await cleanLogs(config.home, { days: config.log.retentionDays, timeZone: config.timezone });
      const bytes = r.removed.reduce((n, f) => n + f.bytes, 0);
      logger.info(
        {
          event: 'logs.cleaned',
          removed: r.removed.length,
          bytes,
          cutoff: r.cutoff,
          skipped: r.skipped.length,
          trimmed: r.trimmed,
        },
        `removed ${r.removed.length} log file(s) dated before ${r.cutoff}`,
      );
      if (r.failed.length) {
        throw new Error(
          `could not remove ${r.failed.length} log file(s): ${r.failed
            .slice(0, 3)
            .map((f) => `${f.file} (${f.error})`)
            .join(', ')}`,
        );
      }
      return { removed: r.removed.length, bytes, cutoff: r.cutoff };
    },
  };
}

const USAGE = 'clean-logs [--days N] [--dry-run] [--json]';

/** `tradingsystem clean-logs`: the log retention, by hand. */
export async function cleanLogsCommand(args: string[], config: Config): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { days: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const days =
      values.days === undefined ? config.log.retentionDays : wholeNumber('--days', values.days, 1, 36_500);
    const dryRun = values['dry-run'] ?? false;
    const r = await cleanLogs(config.home, { days, timeZone: config.timezone, dryRun });
    const bytes = r.removed.reduce((n, f) => n + f.bytes, 0);
    if (values.json) {
      console.log(JSON.stringify({ home: config.home, days, ...r, removedBytes: bytes }, null, 2));
    } else {
      const verb = dryRun ? 'would remove' : 'removed';
      for (const f of r.removed) console.log(`${verb} ${f.file} (${formatBytes(f.bytes)})`);
      for (const s of r.skipped) console.log(`kept ${s.file}: ${s.reason}`);
      if (r.trimmed)
        console.log(
          `${dryRun ? 'would cut' : 'cut'} ${r.trimmed.file} from ${formatBytes(r.trimmed.fromBytes)} to its last ${formatBytes(r.trimmed.toBytes)}`,
        );
      for (const f of r.failed) console.error(`could not remove ${f.file}: ${f.error}`);
      console.log(
        `${verb} ${r.removed.length} log file(s) (${formatBytes(bytes)}) dated before ${r.cutoff} (${days} days); kept ${r.kept}; today's (${r.today}) are never touched`,
      );
    }
    return r.failed.length ? 1 : 0;
  });
}
