/** The one source of "now" so tests can move time (log rotation, sessions, backoff). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests set by hand. */
export class ManualClock implements Clock {
  constructor(private current = Date.now()) {}
  now(): number {
    return this.current;
  }
  set(epochMs: number): void {
    this.current = epochMs;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

const dayFormatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock fields (year, month, day, hour, minute, second) of an instant in a time zone. */
export function partsIn(timeZone: string, epochMs: number): Record<string, string> {
  let fmt = dayFormatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    dayFormatters.set(timeZone, fmt);
  }
  const out: Record<string, string> = {};
  for (const p of fmt.formatToParts(epochMs)) out[p.type] = p.value;
  return out;
}

/** The last day computed per zone and the span of instants it is known to cover. */
const dayCache = new Map<string, { from: number; until: number; date: string }>();

/**
 * `YYYY-MM-DD` of an instant in a time zone (America/Sao_Paulo for session logic). Asked for on
 * every order and fill: the answer is kept until the next local midnight (Intl is slow).
 */
export function localDate(timeZone: string, epochMs: number): string {
  const known = dayCache.get(timeZone);
  if (known && epochMs >= known.from && epochMs < known.until) return known.date;
  const p = partsIn(timeZone, epochMs);
  const date = `${p.year}-${p.month}-${p.day}`;
  dayCache.set(timeZone, { from: epochMs, until: epochMs + msUntilNextLocalDay(timeZone, epochMs), date });
  return date;
}

/**
 * Milliseconds from an instant to the next local midnight in a time zone. Capped at one hour so a
 * daylight-saving shift can never make a caller miss the day change by more than that.
 */
export function msUntilNextLocalDay(timeZone: string, epochMs: number): number {
  const p = partsIn(timeZone, epochMs);
  const elapsed =
    (Number(p.hour) * 3600 + Number(p.minute) * 60 + Number(p.second)) * 1000 + (epochMs % 1000);
  return Math.max(1, Math.min(86_400_000 - elapsed, 3_600_000));
}

/** Throws unless the zone is one the runtime knows. */
export function assertTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-CA', { timeZone });
}
