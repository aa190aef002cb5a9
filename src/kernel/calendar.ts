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
