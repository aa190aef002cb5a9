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

/** `YYYY-MM-DD` of an instant in a time zone (America/Sao_Paulo for session logic). */
export function localDate(timeZone: string, epochMs: number): string {
  const p = partsIn(timeZone, epochMs);
  return `${p.year}-${p.month}-${p.day}`;
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
