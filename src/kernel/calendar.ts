import { localDate, partsIn } from './clock.js';

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

const DAY_MS = 86_400_000;
/** Local wall-clock minus UTC at an instant, in ms (São Paulo today: -3 h). */
function zoneOffsetAt(timeZone: string, epochMs: number): number {
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
 * The instant a local wall-clock time happens. Asks Intl for the offset at the guess and again at
 * the answer, so days on which the zone's offset changes (daylight saving, historical rules) land right.
 */
export function zonedInstant(timeZone: string, dayNumber: number, minuteOfDay: number): number {
  const wall = dayNumber * DAY_MS + minuteOfDay * 60_000;
  const guess = wall - zoneOffsetAt(timeZone, wall);
  const offset = zoneOffsetAt(timeZone, guess);
  const answer = wall - offset;
  // A wall time skipped by a forward shift does not exist: take the first instant after the shift.
  return zoneOffsetAt(timeZone, answer) === offset ? answer : guess;
}

/** The last day answered per zone: asked for on every captured trade, and Intl is slow. */
const lastDays = new Map<string, Readonly<LocalDay>>();

/** The local day containing an instant. */
export function localDayOf(timeZone: string, epochMs: number): Readonly<LocalDay> {
  const known = lastDays.get(timeZone);
  if (known && epochMs >= known.startTs && epochMs < known.endTs) return known;
  const day = Object.freeze(computeLocalDay(timeZone, epochMs));
  lastDays.set(timeZone, day);
  return day;
}

function computeLocalDay(timeZone: string, epochMs: number): LocalDay {
  const date = localDate(timeZone, epochMs);
  const [year, month, day] = date.split('-').map(Number);
  const dayNumber = Date.UTC(year ?? 1970, (month ?? 1) - 1, day ?? 1) / DAY_MS;
  return {
    date,
    dayNumber,
    startTs: zonedInstant(timeZone, dayNumber, 0),
    endTs: zonedInstant(timeZone, dayNumber + 1, 0),
  };
}

/** The calendar date `days` after (or before) a `YYYY-MM-DD` date. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
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
