import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { addDays, localDate } from '../../kernel/time.js';

// Shared by data-capture's market store and `tradingsystem retention`, which runs without the service.

/**
 * Deletes the `date=` partitions of trades and quotes older than `days` local days. Only Parquet:
 * the journal is pruned by data-capture itself, and only once its segments are in Parquet.
 */
export async function removeOldPartitions(
  parquetDir: string,
  days: number,
  nowMs: number,
  timeZone: string,
): Promise<string[]> {
  if (!Number.isInteger(days) || days < 0) throw new RangeError(`market-store: bad retention days ${days}`);
  const cutoff = addDays(localDate(timeZone, nowMs), -days);
  const removed: string[] = [];
  for (const kind of ['trades', 'quotes']) {
    const dir = path.join(parquetDir, kind);
    for (const name of await listDir(dir)) {
      const date = /^date=(\d{4}-\d{2}-\d{2})$/.exec(name)?.[1];
      if (date === undefined || date >= cutoff) continue;
      await rm(path.join(dir, name), { recursive: true, force: true });
      removed.push(path.join(dir, name));
    }
  }
  return removed;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
