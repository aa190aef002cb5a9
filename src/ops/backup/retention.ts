import { rmSync } from 'node:fs';
import { addDays, localDate } from '../../kernel/time.js';
import { listBackups } from './manifest.js';

/**
 * Deletes backups dated more than `days` days before today (in `timeZone`), except the newest
 * verified one, whatever its age: a data home always keeps one backup known to be whole.
 * Returns the folder names removed.
 */
export function pruneBackups(home: string, days: number, now: number, timeZone: string): string[] {
  const cutoff = addDays(localDate(timeZone, now), -days);
  const all = listBackups(home);
  const keep = all.filter((b) => b.status === 'verified').at(-1)?.name;
  const removed: string[] = [];
  for (const b of all) {
    if (b.name === keep || b.name.slice(0, 10) >= cutoff) continue;
    rmSync(b.dir, { recursive: true, force: true });
    removed.push(b.name);
  }
  return removed;
}
