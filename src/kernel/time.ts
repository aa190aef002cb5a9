/**
 * Time-zone arithmetic: local dates and days, wall clocks, B3's holidays. Pure (no I/O, no clock),
 * so the domain may use it; every answer that depends on a zone comes from here.
 */

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** One local calendar day in a time zone, as UTC instants. */
export interface LocalDay {
  /** `YYYY-MM-DD`. */
  date: string;
  /** Days since 1970-01-01 of that calendar date, a stable hash coordinate. */
  dayNumber: number;
  startTs: number;
  /** Start of the next local day (exclusive end). */
  endTs: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock fields (year, month, day, hour, minute, second) of an instant in a time zone. */
export function partsIn(timeZone: string, epochMs: number): Record<string, string> {
  let fmt = formatters.get(timeZone);
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
    formatters.set(timeZone, fmt);
  }
  const out: Record<string, string> = {};
  for (const p of fmt.formatToParts(epochMs)) out[p.type] = p.value;
  return out;
}

/** Throws unless the zone is one the runtime knows. */
export function assertTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-CA', { timeZone });
}

/** Local wall-clock minus UTC at an instant, in ms (São Paulo today: -3 h). */
export function zoneOffsetAt(timeZone: string, epochMs: number): number {
  const p: Record<string, number> = {};
  for (const [k, v] of Object.entries(partsIn(timeZone, epochMs))) p[k] = Number(v);
  const wall = Date.UTC(
    p.year ?? 1970,
    (p.month ?? 1) - 1,
    p.day ?? 1,
    p.hour ?? 0,
    p.minute ?? 0,
    p.second ?? 0,
  );
  return wall - (epochMs - (((epochMs % 1000) + 1000) % 1000));
}

/**
 * Whether a zone is a whole number of hours from UTC all through 2000-2050, the years this system's
 * data can carry: intraday bars are cut on UTC hours, which are local hours only in such a zone.
 * Sampled monthly, so a rule that lasted less than a month could slip through.
 */
export function isWholeHourZone(timeZone: string): boolean {
  for (let month = 0; month < 51 * 12; month++) {
    if (zoneOffsetAt(timeZone, Date.UTC(2000, month, 1)) % HOUR_MS !== 0) return false;
  }
  return true;
}

/**
 * The instant a local wall-clock time happens. The zone's offsets a day either side give the
 * candidates, so days on which the offset changes (daylight saving, historical rules) land right.
 */
export function zonedInstant(timeZone: string, dayNumber: number, minuteOfDay: number): number {
  const wall = dayNumber * DAY_MS + minuteOfDay * 60_000;
  const offsetBefore = zoneOffsetAt(timeZone, wall - DAY_MS);
  const offsetAfter = zoneOffsetAt(timeZone, wall + DAY_MS);
  const early = wall - Math.max(offsetBefore, offsetAfter);
  const late = wall - Math.min(offsetBefore, offsetAfter);
  // A wall time a backward shift repeats happens twice: a day (or an hour) starts at the first.
  if (early === late || zoneOffsetAt(timeZone, early) === wall - early) return early;
  // The one instant; or the wall time is skipped by a forward shift and this is the instant at the
  // old offset, the shift itself when the skipped time starts the gap (a midnight skipped).
  return late;
}

/** Days since 1970-01-01 of a `YYYY-MM-DD` date. */
export function dayNumberOf(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / DAY_MS;
}

/**
 * The local days worked out so far in one zone: the last one answered (trades and fills mostly come
 * in order, so nearly every call stops there), and all of them by the UTC days they overlap, so a
 * replay that jumps back still finds its day without asking Intl again.
 */
interface ZoneDays {
  last: Readonly<LocalDay> | undefined;
  byUtcDay: Map<number, Readonly<LocalDay>[]>;
}

const zoneDays = new Map<string, ZoneDays>();
/** UTC days remembered per zone before starting over: decades of replay, well under a megabyte. */
const MAX_UTC_DAYS = 10_000;

const contains = (day: Readonly<LocalDay>, epochMs: number) => epochMs >= day.startTs && epochMs < day.endTs;

/**
 * The local day containing an instant. Asked for on every captured trade, order and fill, and Intl
 * is slow: each day is computed once per zone and kept, whatever order the instants come in.
 */
export function localDayOf(timeZone: string, epochMs: number): Readonly<LocalDay> {
  let zone = zoneDays.get(timeZone);
  if (zone?.last && contains(zone.last, epochMs)) return zone.last;
  if (!zone) {
    zone = { last: undefined, byUtcDay: new Map() };
    zoneDays.set(timeZone, zone);
  }
  // A UTC day overlaps at most three local days (local days are 23 to 25 hours long).
  const utcDay = Math.floor(epochMs / DAY_MS);
  let days = zone.byUtcDay.get(utcDay);
  let day = days?.find((d) => contains(d, epochMs));
  if (!day) {
    day = Object.freeze(computeLocalDay(timeZone, epochMs));
    if (!days) {
      if (zone.byUtcDay.size >= MAX_UTC_DAYS) zone.byUtcDay.clear();
      days = [];
      zone.byUtcDay.set(utcDay, days);
    }
    // A zone rule Intl and zonedInstant disagree on must not grow the list call after call.
    if (contains(day, epochMs)) days.push(day);
  }
  zone.last = day;
  return day;
}

function computeLocalDay(timeZone: string, epochMs: number): LocalDay {
  const p = partsIn(timeZone, epochMs);
  const date = `${p.year}-${p.month}-${p.day}`;
  // From the numbers, not the text: Date.parse refuses year 10000, which a query's end can reach.
  const dayNumber = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day)) / DAY_MS;
  return {
    date,
    dayNumber,
    startTs: zonedInstant(timeZone, dayNumber, 0),
    endTs: zonedInstant(timeZone, dayNumber + 1, 0),
  };
}

/** `YYYY-MM-DD` of an instant in a time zone (the market's zone for session logic). */
export function localDate(timeZone: string, epochMs: number): string {
  return localDayOf(timeZone, epochMs).date;
}

/**
 * The instant's local wall clock as epoch-like ms (São Paulo today: epochMs - 3 h), for minute-of-day
 * and weekday arithmetic. On a 24-hour day the wall clock runs from the day's start without a jump;
 * on a day the offset changes, Intl is asked for the offset at the instant itself.
 */
export function localWallMs(timeZone: string, epochMs: number): number {
  const day = localDayOf(timeZone, epochMs);
  if (day.endTs - day.startTs === DAY_MS) return day.dayNumber * DAY_MS + (epochMs - day.startTs);
  return epochMs + zoneOffsetAt(timeZone, epochMs);
}

/**
 * Milliseconds from an instant to the next local midnight in a time zone. Capped at one hour so a
 * daylight-saving shift can never make a caller miss the day change by more than that.
 */
export function msUntilNextLocalDay(timeZone: string, epochMs: number): number {
  const p = partsIn(timeZone, epochMs);
  const elapsed =
    (Number(p.hour) * 3600 + Number(p.minute) * 60 + Number(p.second)) * 1000 + (epochMs % 1000);
  return Math.max(1, Math.min(DAY_MS - elapsed, HOUR_MS));
}

/** The calendar date `days` after (or before) a `YYYY-MM-DD` date. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm), `YYYY-MM-DD`. */
export function easterSunday(year: number): string {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/**
 * The days B3 does not trade, by its standing rules: the national holidays, Carnival Monday and
 * Tuesday, Good Friday, Corpus Christi, and 24 and 31 December. B3 publishes each year's calendar
 * and sometimes departs from these rules: the exceptions go in config (`slo.holidays`).
 */
export function b3Holidays(year: number): string[] {
  const easter = easterSunday(year);
  const fixed = ['01-01', '04-21', '05-01', '09-07', '10-12', '11-02', '11-15', '12-24', '12-25', '12-31'];
  // Black Consciousness Day became a national holiday in 2024 (Law 14,759/2023).
  if (year >= 2024) fixed.push('11-20');
  const movable = [-48, -47, -2, 60].map((d) => addDays(easter, d));
  return [...fixed.map((md) => `${year}-${md}`), ...movable].sort();
}
