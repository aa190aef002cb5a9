import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../kernel/config.js';
import type { Logger } from '../../kernel/logger.js';
import type { DailyJob } from '../schedule.js';
import { CLI_ENTRY } from '../supervisor/specs.js';
import { backupsDir, lastGoodBackup } from './manifest.js';

/** A backup that has not finished in this long is stopped (and reported failed). */
const BACKUP_TIMEOUT_MS = 2 * 3_600_000;

/**
 * When the daily backup was first scheduled for this data home (remembered in `backups/.scheduled-since`
 * at the first ask): with no backup yet, only a scheduled time after that counts as missed, so the
 * first start of a new install does not begin with a backup of nothing.
 */
function scheduledSince(home: string): number {
  const file = path.join(backupsDir(home), '.scheduled-since');
  const known = existsSync(file) ? Date.parse(readFileSync(file, 'utf8').trim()) : Number.NaN;
  if (Number.isFinite(known)) return known;
  const now = Date.now();
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${new Date(now).toISOString()}\n`);
  return now;
}

/**
 * The supervisor's daily backup at `backup.dailyAt`: `tradingsystem backup now` in a process of its
 * own (the supervisor never loads SQLite or DuckDB, and a backup that dies does not take it along).
 * Made up at the next start when the newest verified backup is older than the last scheduled time.
 */
export function backupJob(config: Config, logger: Logger): DailyJob {
  return {
    name: 'backup',
    at: config.backup.dailyAt,
    catchUp: true,
    lastSuccess: () => {
      const newest = lastGoodBackup(config.home);
      return newest ? Date.parse(newest.manifest.finishedAt) : scheduledSince(config.home);
    },
    run: () =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        execFile(
          process.execPath,
          [CLI_ENTRY, 'backup', 'now'],
          {
            env: { ...process.env, TRADINGSYSTEM_HOME: config.home },
            timeout: BACKUP_TIMEOUT_MS,
            maxBuffer: 1 << 20,
          },
          (err, stdout, stderr) => {
            const output = `${stdout}${stderr}`.trim();
            const name = /^backup (\S+):/m.exec(stdout)?.[1] ?? null;
            const ms = Date.now() - started;
            if (err) {
              logger.error(
                { event: 'backup.failed', name, ms, output: output.slice(-2_000) },
                'daily backup failed',
              );
              reject(new Error(`backup failed: ${output.split('\n').at(-1) ?? err.message}`));
              return;
            }
            logger.info({ event: 'backup.done', name, ms }, `daily backup ${name} taken and verified`);
            resolve({ name, ms });
          },
        );
      }),
  };
}
