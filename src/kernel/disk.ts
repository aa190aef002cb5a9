import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.js';
import { Gauge, type Registry } from './metrics.js';
import type { HealthCheckResult } from './service.js';

/** The handbook page for a disk running out of space. */
export const DISK_RUNBOOK = 'runbooks/disk-space';

/**
 * `ok`, `warn` (below `disk.warnFreePercent`), `critical` (below `disk.criticalFreePercent`), or
 * `unknown` when the file system could not be asked.
 */
export type DiskLevel = 'ok' | 'warn' | 'critical' | 'unknown';

/** One reading of the free space of the file system that holds the data home. */
export interface DiskState {
  level: DiskLevel;
  /** The folder measured: the data home, or its nearest existing parent before it is created. */
  path: string;
  /** Bytes an ordinary (non-root) writer can still use. */
  freeBytes: number | null;
  totalBytes: number | null;
  /** Free share of the disk, one decimal. */
  freePercent: number | null;
  warnPercent: number;
  criticalPercent: number;
  /** One line for a person. */
  detail: string;
  /** Epoch ms of the reading. */
  checkedAt: number;
}

export type DiskThresholds = Config['disk'];

/**
 * Measures the file system holding `dir` now (one statfs call) against the thresholds. Never
 * throws: a file system that cannot be asked is `unknown`, with the reason.
 */
export async function measureDisk(dir: string, limits: DiskThresholds, now = Date.now()): Promise<DiskState> {
  const base = { warnPercent: limits.warnFreePercent, criticalPercent: limits.criticalFreePercent };
  let at = path.resolve(dir);
  for (;;) {
    try {
      const s = await statfs(at);
      const totalBytes = s.blocks * s.bsize;
      const freeBytes = s.bavail * s.bsize;
      const exact = totalBytes > 0 ? (freeBytes / totalBytes) * 100 : 0;
      const freePercent = Math.floor(exact * 10) / 10;
      const level: DiskLevel =
        exact < limits.criticalFreePercent ? 'critical' : exact < limits.warnFreePercent ? 'warn' : 'ok';
      const amount = `${freePercent}% free (${formatBytes(freeBytes)} of ${formatBytes(totalBytes)})`;
      const detail =
        level === 'critical'
          ? `${amount}, below the critical level of ${limits.criticalFreePercent}%: Parquet conversion paused, backups refused`
          : level === 'warn'
            ? `${amount}, below the warning level of ${limits.warnFreePercent}%`
            : amount;
      return { level, path: at, freeBytes, totalBytes, freePercent, detail, checkedAt: now, ...base };
    } catch (err) {
      const parent = path.dirname(at);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && parent !== at) {
        at = parent;
        continue;
      }
      return {
        level: 'unknown',
        path: at,
        freeBytes: null,
        totalBytes: null,
        freePercent: null,
        detail: `cannot read the free space: ${(err as Error).message}`,
        checkedAt: now,
        ...base,
      };
    }
  }
}

/** Readings per data home, shared by everything in one process that asks within `disk.cacheMs`. */
const readings = new Map<string, { at: number; state: Promise<DiskState> }>();

/**
 * The free space of the data home against `config.disk`, the one answer to "is there room": each
 * service's `/health` `disk` check, the Parquet pause of data-capture, `check-disk`, and the backup
 * that refuses to start at `critical`. A reading is reused for `disk.cacheMs` (`fresh` asks again).
 */
export function diskState(
  home: string,
  config: Pick<Config, 'disk'>,
  opts: { fresh?: boolean } = {},
): Promise<DiskState> {
  const now = Date.now();
  const key = path.resolve(home);
  const known = readings.get(key);
  if (!opts.fresh && known && now - known.at < config.disk.cacheMs && now >= known.at) return known.state;
  const state = measureDisk(key, config.disk, now);
  readings.set(key, { at: now, state });
  return state;
}

/** A reading as a `/health` check: anything but `ok` is degraded (a full disk does not stop a service). */
export function diskHealth(state: DiskState): HealthCheckResult {
  const { level, path: where, freeBytes, totalBytes, freePercent, detail } = state;
  return {
    status: level === 'ok' ? 'ok' : 'degraded',
    level,
    detail,
    path: where,
    freeBytes,
    totalBytes,
    freePercent,
    ...(level !== 'ok' && { runbook: DISK_RUNBOOK }),
  };
}

const LEVEL_VALUE: Record<DiskLevel, number> = { ok: 0, warn: 1, critical: 2, unknown: -1 };

/**
 * `tradingsystem_disk_free_bytes`, `_size_bytes`, `_free_ratio` and `_level` (0 ok, 1 warn,
 * 2 critical, -1 unknown) of the data home's file system, read at scrape time from `diskState`.
 */
export function registerDiskMetrics(registry: Registry, home: string, config: Pick<Config, 'disk'>): void {
  const read = () => diskState(home, config);
  const gauge = (name: string, help: string, value: (s: DiskState) => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const v = value(await read());
        if (v === null) this.reset();
        else this.set(v);
      },
    });
  gauge(
    'tradingsystem_disk_free_bytes',
    'Free bytes on the file system of the data home',
    (s) => s.freeBytes,
  );
  gauge('tradingsystem_disk_size_bytes', 'Size of the file system of the data home', (s) => s.totalBytes);
  gauge('tradingsystem_disk_free_ratio', 'Free share (0-1) of the file system of the data home', (s) =>
    s.freeBytes === null || !s.totalBytes ? null : s.freeBytes / s.totalBytes,
  );
  gauge(
    'tradingsystem_disk_level',
    'Free space level of the data home: 0 ok, 1 below the warning level, 2 below the critical level, -1 unknown',
    (s) => LEVEL_VALUE[s.level],
  );
}

/** `1.5 GB`, `310 MB`, `12 KB`: decimal units, as disk sizes are sold. */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
