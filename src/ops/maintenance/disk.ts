import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../../kernel/config.js';
import { DISK_RUNBOOK, type DiskLevel, diskState, formatBytes } from '../../kernel/disk.js';
import { UsageError, withUsage } from './args.js';

export { type DiskLevel, type DiskState, diskState } from '../../kernel/disk.js';

/** Bytes taken by each top-level folder of the data home (parquet, journal, logs, backups…), largest first. */
export async function homeUsage(home: string): Promise<{ name: string; bytes: number }[]> {
  let names: string[] = [];
  try {
    names = await readdir(home);
  } catch {
    return [];
  }
  const sizes = await Promise.all(
    names.map(async (name) => ({ name, bytes: await treeSize(path.join(home, name)) })),
  );
  return sizes.sort((a, b) => b.bytes - a.bytes);
}

/** Bytes under a path, without following links or leaving its file system; unreadable parts count 0. */
async function treeSize(p: string, dev?: number): Promise<number> {
  let s: Awaited<ReturnType<typeof lstat>>;
  try {
    s = await lstat(p);
  } catch {
    return 0;
  }
  if (dev !== undefined && s.dev !== dev) return 0;
  if (!s.isDirectory()) return s.isFile() ? s.blocks * 512 || s.size : 0;
  let names: string[] = [];
  try {
    names = await readdir(p);
  } catch {
    return 0;
  }
  let total = 0;
  for (const n of names) total += await treeSize(path.join(p, n), s.dev);
  return total;
}

const USAGE = 'check-disk [--json] [--usage]';

/** Exit codes of `check-disk` (2 is bad input, as for every command). */
export const DISK_EXIT: Record<DiskLevel, number> = { ok: 0, warn: 1, unknown: 1, critical: 4 };

/**
 * `tradingsystem check-disk`: the data home's free space against `disk.warnFreePercent` and
 * `disk.criticalFreePercent`; exit 0 ok, 1 below the warning level (or unreadable), 4 below the
 * critical level.
 */
export async function checkDiskCommand(args: string[], config: Config): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, usage: { type: 'boolean' } },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const state = await diskState(config.home, config, { fresh: true });
    const usage = values.usage ? await homeUsage(config.home) : undefined;
    if (values.json) {
      console.log(JSON.stringify({ home: config.home, ...state, ...(usage && { usage }) }, null, 2));
    } else {
      const label = state.level === 'ok' ? 'ok' : state.level.toUpperCase();
      console.log(`${label.padEnd(8)} data home ${config.home}: ${state.detail}`);
      if (state.path !== config.home)
        console.log(`         (measured at ${state.path}: the data home does not exist yet)`);
      console.log(
        `         levels: warning below ${state.warnPercent}%, critical below ${state.criticalPercent}% (config disk.*)`,
      );
      if (state.level === 'warn' || state.level === 'critical')
        console.log(`         what to do: docs/${DISK_RUNBOOK}.md; what takes the room: check-disk --usage`);
      for (const u of usage ?? []) console.log(`  ${formatBytes(u.bytes).padStart(10)}  ${u.name}`);
    }
    return DISK_EXIT[state.level];
  });
}
