/** Bar intervals and the local-day arithmetic behind `1d` bars. Pure: no I/O. */
import { dayNumberOf, zonedInstant } from '../../kernel/time.js';

export type BarInterval = '1m' | '5m' | '15m' | '1h' | '1d';

export const BAR_INTERVALS: readonly BarInterval[] = ['1m', '5m', '15m', '1h', '1d'];

export { type Bar, INTRADAY_STEP_MS } from '../../domain/bars.js';

export function isBarInterval(value: string): value is BarInterval {
  return (BAR_INTERVALS as readonly string[]).includes(value);
}

/** The instant a local date begins in a zone. */
export function dayStart(timeZone: string, date: string): number {
  return zonedInstant(timeZone, dayNumberOf(date), 0);
}
