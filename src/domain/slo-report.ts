/**
 * The SLO report: built from what the supervisor recorded and what the order manager and
 * data-capture answered, and its text form. Pure: the reading is in adapters/slo-report.ts.
 */
import { localDayOf, partsIn, zonedInstant } from '../kernel/time.js';
import {
  type Availability,
  availabilityOf,
  closedReason,
  type HistogramData,
  histogramQuantile,
  type MarketHours,
  type MinuteRecord,
  marketMinutes,
  minuteOfDay,
  OBJECTIVES,
  type OrderOutcomes,
  type OrderSuccess,
  orderSuccessOf,
  type Verdict,
} from './slo.js';

const DAY_MS = 86_400_000;

export interface SloWindow {
  from: number;
  to: number;
}

export interface LatencyFigure {
  /** Orders measured, since `since` (the order manager's start: its histograms are in memory). */
  count: number;
  p95Ms: number | null;
  since: string | null;
}

export interface SloReport {
  generatedAt: string;
  window: {
    from: string;
    to: string;
    timeZone: string;
    marketOpen: string;
    marketClose: string;
    tradingDays: number[];
    /** Trading-calendar days in the window that are closed by a holiday. */
    holidays: string[];
    marketMinutes: number;
  };
  availability: Availability[];
  tickToOrder: LatencyFigure & { objectiveMs: number; verdict: Verdict };
  /** REST orders, request to broker acknowledgement: measured and shown apart, no objective of its own. */
  apiOrderAck: LatencyFigure;
  orderSuccess: (OrderSuccess & { verdict: Verdict }) | { verdict: 'no-data'; error: string };
  dataLoss:
    | {
        objective: number;
        missedTradeNumbers: number;
        openGaps: number;
        gapsInWindow: number;
        verdict: Verdict;
      }
    | { verdict: 'no-data'; error: string };
  /** Sources that did not answer: their figures are `no-data`. */
  errors: string[];
}

/** The parts of the config that say when the market is open. */
export interface MarketHoursConfig {
  timezone: string;
  slo: {
    marketOpen: string;
    marketClose: string;
    tradingDays: number[];
    b3Holidays: boolean;
    holidays: string[];
  };
}

export const marketHoursOf = (config: MarketHoursConfig): MarketHours => ({
  timeZone: config.timezone,
  openMinute: minuteOfDay(config.slo.marketOpen),
  closeMinute: minuteOfDay(config.slo.marketClose),
  tradingDays: config.slo.tradingDays,
  b3Holidays: config.slo.b3Holidays,
  holidays: config.slo.holidays,
});

/** The current calendar month in the zone, from its first local midnight to `now`. */
export function defaultWindow(timeZone: string, now: number): SloWindow {
  const day = localDayOf(timeZone, now);
  const dayOfMonth = Number(partsIn(timeZone, now).day);
  return { from: zonedInstant(timeZone, day.dayNumber - (dayOfMonth - 1), 0), to: now };
}

/** ISO-8601 or epoch ms; NaN when neither. */
export function parseTime(text: string): number {
  return /^\d+$/.test(text.trim()) ? Number(text) : Date.parse(text);
}

/** The order manager's answer to `GET /api/slo`. */
export interface OrderManagerSlo {
  orders: OrderOutcomes;
  latency: { since: string; tickToOrder: HistogramData; apiOrderAck: HistogramData };
}

/** A gap as data-capture's `GET /api/gaps` lists it. */
export interface GapRow {
  state: 'open' | 'filled' | 'skipped';
  fromTradeId: number;
  toTradeId: number;
  filled: number;
  detectedAt: number;
}

/**
 * The window a report covers: cut at `now`, and starting no earlier than the first record, as the
 * minutes before it are not this installation's downtime: it did not exist.
 */
export function reportSpan(window: SloWindow, recordedSince: number | null, now: number): SloWindow {
  const to = Math.min(window.to, now);
  return { from: Math.min(Math.max(window.from, recordedSince ?? to), to), to };
}

/** What a report is built from, as read for its span. */
export interface SloSources {
  span: SloWindow;
  /** The services configured (enabled built-ins, then extra processes); records may name more. */
  services: string[];
  /** Probe records by service, then by minute. */
  records: Map<string, Map<number, MinuteRecord>>;
  /** The two services' answers, null when one did not answer (`errors` says why). */
  orderManager: OrderManagerSlo | null;
  gaps: { data: GapRow[] } | null;
  /** Sources that did not answer. */
  errors: string[];
}

/**
 * The SLO report of a span: availability per service from the probe records in market hours, and
 * the order manager's and data-capture's own figures.
 */
export function sloReport(config: MarketHoursConfig, sources: SloSources, now: number): SloReport {
  const { from, to } = sources.span;
  const hours = marketHoursOf(config);
  const minutes = marketMinutes(hours, from, to);
  const { records, errors, orderManager: om, gaps } = sources;
  const services = [...sources.services];
  for (const s of records.keys()) if (!services.includes(s)) services.push(s);
  const availability = services.map((s) => availabilityOf(s, minutes, records.get(s), now));

  const latency = (h: HistogramData | undefined): LatencyFigure => {
    const data = h && {
      ...h,
      buckets: h.buckets.map((b) => ({ le: b.le ?? Number.POSITIVE_INFINITY, count: b.count })),
    };
    const q = data ? histogramQuantile(0.95, data) : null;
    return {
      count: data?.count ?? 0,
      p95Ms: q === null ? null : round(q * 1000, 3),
      since: om?.latency.since ?? null,
    };
  };
  const tick = latency(om?.latency.tickToOrder);

  return {
    generatedAt: new Date(now).toISOString(),
    window: {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      timeZone: config.timezone,
      marketOpen: config.slo.marketOpen,
      marketClose: config.slo.marketClose,
      tradingDays: [...config.slo.tradingDays],
      holidays: holidaysIn(hours, from, to),
      marketMinutes: minutes.length,
    },
    availability,
    tickToOrder: {
      ...tick,
      objectiveMs: OBJECTIVES.tickToOrderP95Ms,
      verdict: tick.p95Ms === null ? 'no-data' : tick.p95Ms < OBJECTIVES.tickToOrderP95Ms ? 'pass' : 'fail',
    },
    apiOrderAck: latency(om?.latency.apiOrderAck),
    orderSuccess: om
      ? orderSuccessOf(om.orders)
      : { verdict: 'no-data', error: 'order-manager not answering' },
    dataLoss: gaps
      ? dataLossOf(gaps.data, from, to)
      : { verdict: 'no-data', error: 'data-capture not answering' },
    errors,
  };
}

/**
 * Trade numbers still missing from gaps found in the window, and every gap open now (loss until
 * backfilled, whenever found). A filled gap lost nothing; a skipped one lost what it still misses.
 */
function dataLossOf(gaps: GapRow[], from: number, to: number) {
  let missed = 0;
  let open = 0;
  let inWindow = 0;
  for (const g of gaps) {
    const found = g.detectedAt >= from && g.detectedAt < to;
    if (found) inWindow += 1;
    if (g.state === 'open') open += 1;
    if ((found || g.state === 'open') && g.state !== 'filled') {
      missed += Math.max(0, g.toTradeId - g.fromTradeId + 1 - g.filled);
    }
  }
  return {
    objective: OBJECTIVES.dataLoss,
    missedTradeNumbers: missed,
    openGaps: open,
    gapsInWindow: inWindow,
    verdict: (missed === 0 && open === 0 ? 'pass' : 'fail') as Verdict,
  };
}

function holidaysIn(h: MarketHours, from: number, to: number): string[] {
  const out: string[] = [];
  const first = localDayOf(h.timeZone, from).dayNumber;
  const last = localDayOf(h.timeZone, Math.max(from, to - 1)).dayNumber;
  for (let d = first; d <= last && out.length < 400; d++) {
    const date = new Date(d * DAY_MS).toISOString().slice(0, 10);
    if (closedReason(h, date) === 'holiday') out.push(date);
  }
  return out;
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

const pct = (n: number | null, digits = 3) => (n === null ? '—' : `${round(n * 100, digits)}%`);
const VERDICT = { pass: 'PASS', fail: 'FAIL', 'no-data': 'no data' } as const;
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The report as a readable table. */
export function renderSloText(r: SloReport): string {
  const local = (iso: string) =>
    new Date(iso).toLocaleString('sv-SE', { timeZone: r.window.timeZone }).slice(0, 16);
  const lines = [
    `SLO report ${local(r.window.from)} → ${local(r.window.to)} (${r.window.timeZone})`,
    `market hours ${r.window.marketOpen}–${r.window.marketClose} ${r.window.tradingDays
      .map((d) => WEEKDAYS[d])
      .join(
        ',',
      )}, holidays excluded${r.window.holidays.length ? ` (${r.window.holidays.join(', ')})` : ''}; ${
      r.window.marketMinutes
    } market minutes`,
    '',
    'availability in market hours (a minute is down if a probe failed or the service was seen down; unknown = no record, counted down)',
  ];
  const rows = [
    ['service', 'objective', 'availability', 'up', 'down', 'unknown', 'budget left (min)', 'verdict'],
    ...r.availability.map((a) => [
      a.service,
      pct(a.objective, 2),
      pct(a.availability),
      String(a.up),
      String(a.down),
      String(a.unknown),
      `${a.budget.leftMinutes} of ${a.budget.allowedMinutes}`,
      VERDICT[a.verdict],
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  for (const row of rows) lines.push(`  ${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
  lines.push('');
  const t = r.tickToOrder;
  lines.push(
    `tick-to-order P95   ${t.p95Ms === null ? '—' : `${t.p95Ms} ms`}  objective < ${t.objectiveMs} ms  ${VERDICT[t.verdict]}  (${t.count} strategy/signal orders since ${t.since ?? '—'})`,
  );
  const a = r.apiOrderAck;
  lines.push(
    `API order ack P95   ${a.p95Ms === null ? '—' : `${a.p95Ms} ms`}  request to broker acknowledgement, shown apart  (${a.count} REST orders since ${a.since ?? '—'})`,
  );
  const o = r.orderSuccess;
  if ('error' in o) lines.push(`order success       no data: ${o.error}`);
  else {
    lines.push(
      `order success       ${pct(o.rate)}  objective > ${pct(o.objective, 2)}  ${VERDICT[o.verdict]}  (${o.succeeded} of ${o.sent - o.pending} sent; ${o.brokerRejected} rejected by the broker, ${o.unanswered} unanswered, ${o.pending} pending; ${o.riskRejected} risk rejections excluded; budget left ${o.budget.leftFailures} of ${o.budget.allowedFailures} failures)`,
    );
  }
  const d = r.dataLoss;
  if ('error' in d) lines.push(`data loss           no data: ${d.error}`);
  else {
    lines.push(
      `data loss           ${d.missedTradeNumbers} missed trade numbers, ${d.openGaps} open gaps  objective ${d.objective}  ${VERDICT[d.verdict]}  (${d.gapsInWindow} gaps found in the window)`,
    );
  }
  for (const e of r.errors) lines.push(`warning: ${e}`);
  return `${lines.join('\n')}\n`;
}
