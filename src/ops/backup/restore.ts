import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { type Config, configFilePath } from '../../kernel/config.js';
import { startInBackground, stopSupervisor } from '../supervisor/background.js';
import { isAlive, readState } from '../supervisor/control.js';
import { copyHashed } from './copy.js';
import { type BackupEntry, CONFIG_PREFIX, DATA_PREFIX, listBackups } from './manifest.js';
import { NO_PROGRESS, type Progress } from './take.js';
import { verifyBackup } from './verify.js';

/** A restore that cannot go ahead (no such backup, a bad one): said in one sentence. */
export class RestoreRefused extends Error {}

export interface RestoreStep {
  step: string;
  ms: number;
  detail: string;
}

export interface RestoreOptions {
  /** Verify and say what would happen; change nothing. */
  dryRun?: boolean;
  /** Restore into this data home instead of the configured one (a drill's scratch home). */
  intoHome?: string;
  /** Start the services afterwards (on the configured home: yes unless false). */
  start?: boolean;
  /** Environment of the supervisor started afterwards (its home and config). */
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
  /** Told of each step as it ends. */
  onStep?: (step: RestoreStep) => void;
}

export interface RestoreResult {
  backup: BackupEntry;
  steps: RestoreStep[];
  /** Where the data it replaced was moved (kept, never deleted); null for a dry run. */
  asideDir: string | null;
}

/** Folders of a data home a restore never moves: backups, what earlier restores kept, and logs. */
const KEPT_IN_PLACE = new Set(['backups', 'restore-aside', 'logs', 'parquet']);

/**
 * `restore --date`: verifies the backup first and refuses a bad one naming its bad file; stops the
 * services; moves the current data aside to `restore-aside/<time>/` (kept, never deleted: the
 * Parquet partitions the backup holds and any newer, everything else but backups and logs);
 * copies the backup in (logs only where none exists; the config file only if it is missing);
 * checks the integrity of what it restored; starts the services and waits for their health.
 */
export async function restoreBackup(
  config: Config,
  name: string,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  const backup = listBackups(config.home).find((b) => b.name === name);
  if (!backup) {
    const names = listBackups(config.home).map((b) => b.name);
    throw new RestoreRefused(
      `no backup ${name} in ${path.join(config.home, 'backups')}${names.length ? ` (there are: ${names.join(', ')})` : ' (there are none)'}`,
    );
  }
  const home = opts.intoHome ?? config.home;
  const live = home === config.home;
  const steps: RestoreStep[] = [];
  const timed = async (step: string, work: () => string | Promise<string>) => {
    const started = Date.now();
    const detail = await work();
    const done = { step, ms: Date.now() - started, detail };
    steps.push(done);
    opts.onStep?.(done);
  };

  await timed('verify', async () => {
    const v = await verifyBackup(backup.dir, opts.progress ?? NO_PROGRESS);
    if (!v.ok) {
      const list = v.problems.map((p) => `${p.file}: ${p.reason}`).join('; ');
      throw new RestoreRefused(`backup ${name} is bad, not restoring it: ${list}`);
    }
    return `${backup.manifest.files.length} files whole (${v.ms} ms)`;
  });
  const aside = path.join(home, 'restore-aside', new Date().toISOString().replaceAll(':', '-'));
  const moves = plannedMoves(home, backup);
  if (opts.dryRun) {
    steps.push({
      step: 'dry run',
      ms: 0,
      detail: `would stop the services, move ${moves.length} item(s) to ${aside}, restore ${backup.manifest.files.length} files`,
    });
    return { backup, steps, asideDir: null };
  }

  if (live) {
    await timed('stop', async () => {
      const state = readState(home);
      if (!state || !isAlive(state.pid)) return 'nothing was running';
      const timeoutMs = config.supervisor.stopTimeoutMs * 8 + 5_000;
      if (!(await stopSupervisor(home, timeoutMs)))
        throw new Error(`the supervisor (pid ${state.pid}) did not stop`);
      return `supervisor ${state.pid} and its services stopped`;
    });
  }
  await timed('move aside', () => {
    for (const rel of moves) {
      const to = path.join(aside, rel);
      mkdirSync(path.dirname(to), { recursive: true });
      renameSync(path.join(home, rel), to);
    }
    return moves.length ? `${moves.length} item(s) kept in ${aside}` : 'nothing there';
  });
  await timed('copy', () => {
    opts.progress?.planned(
      backup.manifest.files.length,
      backup.manifest.files.reduce((n, f) => n + f.bytes, 0),
    );
    let copied = 0;
    let skipped = 0;
    for (const f of backup.manifest.files) {
      const dest = destinationOf(f.path, home);
      if (!dest || (f.path.startsWith(`${DATA_PREFIX}/logs/`) && existsSync(dest))) {
        skipped += 1;
        opts.progress?.done(f.path, f.bytes);
        continue;
      }
      // The config file goes back only to a live home that lost it; a scratch home has its own.
      if (f.path.startsWith(`${CONFIG_PREFIX}/`) && (!live || existsSync(dest))) {
        skipped += 1;
        opts.progress?.done(f.path, f.bytes);
        continue;
      }
      const got = copyHashed(path.join(backup.dir, f.path), dest);
      if (got.sha256 !== f.sha256) throw new Error(`${f.path} changed while being restored`);
      copied += 1;
      opts.progress?.done(f.path, f.bytes);
    }
    return `${copied} files restored${skipped ? `, ${skipped} kept as they were (logs, config)` : ''}`;
  });
  await timed('integrity', () => {
    const sqlite = backup.manifest.files.filter((f) => f.path.endsWith('.sqlite'));
    for (const f of sqlite) {
      const file = destinationOf(f.path, home) as string;
      const db = new Database(file, { fileMustExist: true });
      try {
        const ok = db.pragma('quick_check', { simple: true });
        if (ok !== 'ok') throw new Error(`${f.path}: quick_check ${String(ok)}`);
      } finally {
        db.close();
      }
    }
    for (const f of backup.manifest.files.filter((x) => x.path.endsWith('.json'))) {
      JSON.parse(readFileSync(destinationOf(f.path, home) as string, 'utf8'));
    }
    return `${sqlite.length} SQLite file(s) pass quick_check; JSON files parse`;
  });
  if (opts.start ?? live) {
    await timed('start', async () => {
      const started = await startInBackground(home, [], opts.env);
      if (!started.allUp) {
        const down = started.state.processes.filter((p) => p.state !== 'healthy' && p.state !== 'degraded');
        throw new Error(`restored, but not healthy: ${down.map((p) => `${p.name} ${p.state}`).join(', ')}`);
      }
      return `supervisor ${started.state.pid}: every service healthy`;
    });
  }
  return { backup, steps, asideDir: moves.length ? aside : null };
}

/** Where a backup file goes back to: under the data home, or the config file's place. */
function destinationOf(file: string, home: string): string | null {
  if (file.startsWith(`${DATA_PREFIX}/`)) return path.join(home, file.slice(DATA_PREFIX.length + 1));
  if (file.startsWith(`${CONFIG_PREFIX}/`)) return configFilePath();
  return null;
}

/**
 * What the restore moves aside, relative to the data home: every top-level item but the ones
 * kept in place (and the config file, when it lives there), and the Parquet partitions of the backup's oldest date on (newer data would
 * otherwise sit beside a journal that no longer knows it).
 */
function plannedMoves(home: string, backup: BackupEntry): string[] {
  if (!existsSync(home)) return [];
  // A config file kept inside the data home stays where it is: it says how this machine runs.
  const config = path.relative(home, configFilePath());
  const configTop = config.startsWith('..') || path.isAbsolute(config) ? null : config.split(path.sep)[0];
  const moves = readdirSync(home).filter((n) => !KEPT_IN_PLACE.has(n) && n !== configTop);
  const dates = backup.manifest.files
    .map((f) => /date=(\d{4}-\d{2}-\d{2})/.exec(f.path)?.[1])
    .filter((d): d is string => d !== undefined)
    .sort();
  const from = dates[0] ?? backup.manifest.startedAt.slice(0, 10);
  for (const kind of ['trades', 'quotes']) {
    const dir = path.join(home, 'parquet', kind);
    if (!existsSync(dir)) continue;
    for (const part of readdirSync(dir)) {
      const date = /^date=(\d{4}-\d{2}-\d{2})$/.exec(part)?.[1];
      if (date && date >= from) moves.push(path.join('parquet', kind, part));
    }
  }
  return moves;
}
