/**
 * Service-level objectives: market-hours windows, per-minute probe records, availability and
 * error budgets, percentiles from histogram buckets. Pure: callers bring records and times.
 */
import { b3Holidays, localDayOf, zonedInstant } from '../kernel/time.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** No window is longer than this (about ten years): every day loop here is bounded by it. */
export const MAX_WINDOW_DAYS = 3_660;

/** The objectives of the operations summary. */
export const OBJECTIVES = {
  /** Availability in market hours: 99.5% overall, the core services 99.9%. */
  availability: 0.995,
  coreAvailability: 0.999,
  coreServices: ['data-capture', 'order-manager'] as readonly string[],
  tickToOrderP95Ms: 500,
  /** Orders accepted by the broker and not rejected by it / orders sent to the broker (risk rejections excluded). */
  orderSuccess: 0.99,
  /** Missed trade numbers and open gaps. */
  dataLoss: 0,
} as const;

export const availabilityObjective = (service: string): number =>
  OBJECTIVES.coreServices.includes(service) ? OBJECTIVES.coreAvailability : OBJECTIVES.availability;

export interface MarketHours {
  timeZone: string;
  /** Minutes after local midnight; close is exclusive (1440: end of day). */
  openMinute: number;
  closeMinute: number;
  /** 0 = Sunday. */
  tradingDays: readonly number[];
  b3Holidays: boolean;
  /** Extra closed days, `YYYY-MM-DD`. */
  holidays: readonly string[];
}

/** `09:00` → 540; `24:00` → 1440. */
export const minuteOfDay = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
};

export interface MarketSession {
  date: string;
  start: number;
  end: number;
}

/** Why a date is not a trading day, or null when it is one. */
export function closedReason(h: MarketHours, date: string): string | null {
  const weekday = new Date(`${date}T12:00:00Z`).getUTCDay();
  if (!h.tradingDays.includes(weekday)) return 'weekend';
  if (h.holidays.includes(date)) return 'holiday';
  if (h.b3Holidays && b3HolidaySet(Number(date.slice(0, 4))).has(date)) return 'holiday';
  return null;
}

const holidayCache = new Map<number, Set<string>>();
function b3HolidaySet(year: number): Set<string> {
  let set = holidayCache.get(year);
  if (!set) {
    set = new Set(b3Holidays(year));
    holidayCache.set(year, set);
  }
  return set;
}

/**
 * The market sessions that overlap [from, to), each clipped to the window: one per trading day,
 * open to close in local time (the zone's rules decide the UTC instants, daylight saving or not).
 */
export function marketSessions(h: MarketHours, from: number, to: number): MarketSession[] {
  if (!(to > from)) return [];
  const first = localDayOf(h.timeZone, from).dayNumber;
  const last = Math.min(localDayOf(h.timeZone, to - 1).dayNumber, first + MAX_WINDOW_DAYS);
  const out: MarketSession[] = [];
  for (let day = first; day <= last; day++) {
    const date = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (closedReason(h, date)) continue;
    const open = zonedInstant(h.timeZone, day, h.openMinute);
    const close = zonedInstant(h.timeZone, day, h.closeMinute);
    const start = Math.max(open, from);
    const end = Math.min(close, to);
    if (end > start) out.push({ date, start, end });
  }
  return out;
}

/**
 * The starts of the minutes of market time that overlap [from, to): the window's edge minutes
 * count whole, as records are per minute (sessions open on a minute: São Paulo's offset is whole hours).
 */
export function marketMinutes(h: MarketHours, from: number, to: number): number[] {
  const out: number[] = [];
  for (const s of marketSessions(h, from, to)) {
    for (let m = Math.floor(s.start / MINUTE_MS) * MINUTE_MS; m < s.end; m += MINUTE_MS) out.push(m);
  }
  return out;
}

/** Process states from best to worst; a minute keeps the worst it saw. */
export const STATE_RANK = [
  'healthy',
  'degraded',
  'starting',
  'unhealthy',
  'stopping',
  'backoff',
  'stopped',
  'failed',
] as const;

const rank = (state: string) => {
  const i = (STATE_RANK as readonly string[]).indexOf(state);
  return i < 0 ? STATE_RANK.length : i;
};
export const worseState = (a: string, b: string): string => (rank(b) > rank(a) ? b : a);

/** What the supervisor saw of one service in one minute. */
export interface MinuteRecord {
  /** Epoch ms of the minute's start. */
  minute: number;
  service: string;
  /** Health probes, and how many answered 200 (ok or degraded). */
  probes: number;
  ok: number;
  /** Observations of the service without an answering process (crashed, restarting, starting, failed). */
  down: number;
  worst: string;
  maxLatencyMs: number;
}

/** Two records of the same service and minute (appended by successive flushes) as one. */
export function mergeRecords(a: MinuteRecord, b: MinuteRecord): MinuteRecord {
  return {
    minute: a.minute,
    service: a.service,
    probes: a.probes + b.probes,
    ok: a.ok + b.ok,
    down: a.down + b.down,
    worst: worseState(a.worst, b.worst),
    maxLatencyMs: Math.max(a.maxLatencyMs, b.maxLatencyMs),
  };
}

/** A minute is available when the service was seen in it and every probe of it answered 200. */
export const minuteAvailable = (r: MinuteRecord): boolean =>
  r.probes + r.down > 0 && r.ok === r.probes && r.down === 0;

export type Verdict = 'pass' | 'fail' | 'no-data';

export interface Availability {
  service: string;
  objective: number;
  /** Market minutes counted: the window's, less an in-progress minute not recorded yet. */
  minutes: number;
  up: number;
  /** Minutes with a failed probe or the service seen down. */
  down: number;
  /** Minutes with no record at all (the supervisor was not running): counted as unavailable. */
  unknown: number;
  /** up / minutes, or null without minutes. */
  availability: number | null;
  verdict: Verdict;
  budget: { allowedMinutes: number; usedMinutes: number; leftMinutes: number };
}

/**
 * Availability of one service over the given market minutes. The minute holding `now` is still
 * being recorded: without a record yet it is left out rather than called unknown.
 */
export function availabilityOf(
  service: string,
  minutes: readonly number[],
  records: ReadonlyMap<number, MinuteRecord> | undefined,
  now: number,
  objective = availabilityObjective(service),
): Availability {
  let up = 0;
  let down = 0;
  let unknown = 0;
  for (const m of minutes) {
    const r = records?.get(m);
    if (!r) {
      if (m + MINUTE_MS > now) continue;
      unknown += 1;
    } else if (minuteAvailable(r)) up += 1;
    else down += 1;
  }
  const counted = up + down + unknown;
  const allowed = round1((1 - objective) * counted);
  const used = down + unknown;
  const availability = counted ? up / counted : null;
  return {
    service,
    objective,
    minutes: counted,
    up,
    down,
    unknown,
    availability,
    verdict: availability === null ? 'no-data' : availability >= objective ? 'pass' : 'fail',
    budget: { allowedMinutes: allowed, usedMinutes: used, leftMinutes: round1(allowed - used) },
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Cumulative histogram buckets as Prometheus keeps them: `le` in seconds (Infinity last). */
export interface HistogramData {
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

/**
 * The q-quantile of a cumulative histogram, interpolated inside its bucket as Prometheus'
 * histogram_quantile does; in the +Inf bucket, the highest finite bound. null when empty.
 */
export function histogramQuantile(q: number, h: HistogramData): number | null {
  if (!h.count) return null;
  const sorted = [...h.buckets].sort((a, b) => a.le - b.le);
  const target = q * h.count;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= target) {
      if (!Number.isFinite(b.le)) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + ((b.le - prevLe) * (target - prevCount)) / inBucket : b.le;
    }
    prevLe = Number.isFinite(b.le) ? b.le : prevLe;
    prevCount = b.count;
  }
  return prevLe;
}

/** Outcomes of the orders sent to the broker in a window, from the order journal. */
export interface OrderOutcomes {
  /** Orders that passed risk and went to the broker. */
  sent: number;
  /** Accepted by the broker and never rejected by it. */
  succeeded: number;
  brokerRejected: number;
  /** No broker answer within the ack timeout and not found accepted since (UNKNOWN). */
  unanswered: number;
  /** Still waiting for the broker's first answer: left out of the rate. */
  pending: number;
  /** Refused by the risk engine: not sent, excluded from the objective. */
  riskRejected: number;
}

export interface OrderSuccess extends OrderOutcomes {
  objective: number;
  rate: number | null;
  verdict: Verdict;
  budget: { allowedFailures: number; usedFailures: number; leftFailures: number };
}

export function orderSuccessOf(o: OrderOutcomes, objective: number = OBJECTIVES.orderSuccess): OrderSuccess {
  const decided = o.sent - o.pending;
  const failures = o.brokerRejected + o.unanswered;
  const rate = decided > 0 ? o.succeeded / decided : null;
  const allowed = round1((1 - objective) * decided);
  return {
    ...o,
    objective,
    rate,
    verdict: rate === null ? 'no-data' : rate > objective ? 'pass' : 'fail',
    budget: { allowedFailures: allowed, usedFailures: failures, leftFailures: round1(allowed - failures) },
  };
}
