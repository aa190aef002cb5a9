/** Bar intervals and the local-day arithmetic behind `1d` bars and `date=` partitions. Pure: no I/O. */
import { zonedInstant } from '../../kernel/calendar.js';
import { localDate } from '../../kernel/clock.js';

export type BarInterval = '1m' | '5m' | '15m' | '1h' | '1d';

export const BAR_INTERVALS: readonly BarInterval[] = ['1m', '5m', '15m', '1h', '1d'];

export { type Bar, INTRADAY_STEP_MS } from '../../domain/bars.js';

export function isBarInterval(value: string): value is BarInterval {
  return (BAR_INTERVALS as readonly string[]).includes(value);
}

/** The instant a local date begins in a zone. */
export function dayStart(timeZone: string, date: string): number {
  return zonedInstant(timeZone, Date.parse(`${date}T00:00:00Z`) / 86_400_000, 0);
}

/**
 * `localDate` memoized per 15-minute UTC bucket: every zone's midnight falls on a quarter hour,
 * so all instants of a bucket share one local date. Keeps per-event partitioning cheap.
 */
export class LocalDates {
  private readonly cache = new Map<number, string>();

  constructor(private readonly timeZone: string) {}

  of(epochMs: number): string {
    const bucket = Math.floor(epochMs / 900_000);
    let date = this.cache.get(bucket);
    if (date === undefined) {
      if (this.cache.size > 10_000) this.cache.clear();
      date = localDate(this.timeZone, epochMs);
      this.cache.set(bucket, date);
    }
    return date;
  }
}
