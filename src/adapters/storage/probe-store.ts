import {
  appendFileSync,
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { MAX_WINDOW_DAYS, type MinuteRecord, mergeRecords } from '../../domain/slo.js';
import { type Clock, systemClock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import { addDays, localDate, localDayOf } from '../../kernel/time.js';

const MINUTE_MS = 60_000;
/** Minutes kept in memory while the disk refuses them (a day of every service), then the oldest go. */
const MAX_PENDING = 1_440 * 16;

/** `{home}/slo/probes`, one `{YYYY-MM-DD}.jsonl` per local day of the minutes it holds. */
export const probeDir = (home: string) => path.join(home, 'slo', 'probes');

/** A stored line: short keys, as a year of them is read for a report. */
interface Line {
  t: string;
  s: string;
  n: number;
  ok: number;
  down: number;
  w: string;
  ms: number;
}

const UP_STATES = new Set(['healthy', 'degraded']);

/** What the recorder keeps of one of the supervisor's probes (its `ProbeResult`). */
export interface ProbeSample {
  service: string;
  /** Epoch ms when the probe started. */
  at: number;
  ok: boolean;
  latencyMs: number;
  /** The service's state after the probe. */
  state: string;
}

/** What the recorder keeps of a process's status as the supervisor reports it. */
export interface StatusSample {
  name: string;
  state: string;
}

export interface ProbeRecorderOptions {
  home: string;
  timeZone: string;
  flushIntervalMs: number;
  retentionDays: number;
  logger: Logger;
  clock?: Clock;
}

/**
 * The supervisor's durable record of what it saw of every service, per minute: probes, how many
 * answered 200, observations without an answering process, the worst state, the slowest probe.
 * Appended to a JSONL file per local day every `flushIntervalMs`; a minute may span several lines
 * (one per flush), which readers merge. A write that fails (a full disk) is logged once and kept
 * in memory for the next flush: the supervisor must outlive its records.
 */
export class ProbeRecorder {
  private readonly pending = new Map<string, MinuteRecord>();
  private timer: NodeJS.Timeout | null = null;
  private failing = false;
  private cleanedFor = '';
  private readonly checked = new Set<string>();
  private readonly clock: Clock;

  constructor(private readonly o: ProbeRecorderOptions) {
    this.clock = o.clock ?? systemClock;
  }

  start(): void {
    this.timer ??= setInterval(() => this.flush(), this.o.flushIntervalMs);
    this.timer.unref();
  }

  /** Flushes what is pending and stops the timer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }

  onProbe(p: ProbeSample): void {
    this.add(p.service, p.at, {
      probes: 1,
      ok: p.ok ? 1 : 0,
      down: 0,
      worst: p.state,
      maxLatencyMs: p.latencyMs,
    });
  }

  /**
   * The supervisor's own view, on every state change and every probe interval: a service it runs
   * without an answering process (crashed, in backoff, starting, failed) is down, whether or not a
   * probe ran — a crash between two probes is over before the next one would see it.
   */
  onStatus(rows: readonly StatusSample[]): void {
    const now = this.clock.now();
    for (const r of rows) {
      if (UP_STATES.has(r.state) || r.state === 'unhealthy') continue; // probes judge these
      this.add(r.name, now, { probes: 0, ok: 0, down: 1, worst: r.state, maxLatencyMs: 0 });
    }
  }

  /** Appends every pending minute; on failure keeps them for the next try. */
  flush(): void {
    if (this.pending.size === 0) return;
    const byDay = new Map<string, string[]>();
    for (const r of this.pending.values()) {
      const day = localDate(this.o.timeZone, r.minute);
      const line: Line = {
        t: new Date(r.minute).toISOString(),
        s: r.service,
        n: r.probes,
        ok: r.ok,
        down: r.down,
        w: r.worst,
        ms: r.maxLatencyMs,
      };
      const lines = byDay.get(day) ?? [];
      byDay.set(day, lines);
      lines.push(JSON.stringify(line));
    }
    try {
      const dir = probeDir(this.o.home);
      mkdirSync(dir, { recursive: true });
      for (const [day, lines] of byDay) {
        const file = path.join(dir, `${day}.jsonl`);
        appendFileSync(file, `${this.tornEnd(file) ? '\n' : ''}${lines.join('\n')}\n`);
      }
    } catch (err) {
      if (!this.failing) {
        this.o.logger.error(
          { event: 'slo.record_write_failed', err: (err as Error).message, pending: this.pending.size },
          'cannot write the probe records; keeping them in memory and retrying',
        );
      }
      this.failing = true;
      this.trimPending();
      return;
    }
    if (this.failing) {
      this.o.logger.info({ event: 'slo.record_written' }, 'probe records written again');
      this.failing = false;
    }
    this.pending.clear();
    this.cleanOld();
  }

  /** A file this process has not written yet may end in a line torn by a crash: ours starts afresh. */
  private tornEnd(file: string): boolean {
    if (this.checked.has(file)) return false;
    this.checked.add(file);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return false;
    }
    try {
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      return size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
    } finally {
      closeSync(fd);
    }
  }

  private add(service: string, at: number, r: Omit<MinuteRecord, 'minute' | 'service'>): void {
    const minute = Math.floor(at / MINUTE_MS) * MINUTE_MS;
    const key = `${service}\n${minute}`;
    const next: MinuteRecord = { minute, service, ...r };
    const known = this.pending.get(key);
    this.pending.set(key, known ? mergeRecords(known, next) : next);
  }

  private trimPending(): void {
    let excess = this.pending.size - MAX_PENDING;
    for (const key of this.pending.keys()) {
      if (excess-- <= 0) break;
      this.pending.delete(key);
    }
  }

  /** Once a day: files older than the retention go. A failure here is only logged. */
  private cleanOld(): void {
    const today = localDate(this.o.timeZone, this.clock.now());
    if (this.cleanedFor === today) return;
    this.cleanedFor = today;
    const cutoff = addDays(today, -this.o.retentionDays);
    try {
      for (const name of readdirSync(probeDir(this.o.home))) {
        const date = /^(\d{4}-\d{2}-\d{2})\.jsonl$/.exec(name)?.[1];
        if (date && date < cutoff) rmSync(path.join(probeDir(this.o.home), name), { force: true });
      }
    } catch (err) {
      this.o.logger.warn(
        { event: 'slo.retention_failed', err: (err as Error).message },
        'probe record retention failed',
      );
    }
  }
}

/**
 * The first minute the supervisor ever recorded (in the oldest day file kept), or null when there
 * is none: before it this installation did not run, so the report does not count those minutes.
 */
export function firstRecordedMinute(home: string): number | null {
  let days: string[];
  try {
    days = readdirSync(probeDir(home))
      .filter((name) => /^\d{4}-\d{2}-\d{2}\.jsonl$/.test(name))
      .sort();
  } catch {
    return null;
  }
  for (const day of days) {
    let first: number | null = null;
    for (const raw of readFileSync(path.join(probeDir(home), day), 'utf8').split('\n')) {
      const r = parseLine(raw);
      if (r && (first === null || r.minute < first)) first = r.minute;
    }
    if (first !== null) return first;
  }
  return null;
}

/** Records by service, then by minute, of the minutes in [from, to). */
export type ProbeRecords = Map<string, Map<number, MinuteRecord>>;

/**
 * Reads the records of [from, to), one day file at a time (a day of every service is about a
 * megabyte), merging the lines of a minute. A torn line (a crash mid-write) is skipped.
 */
export function readProbeRecords(home: string, timeZone: string, from: number, to: number): ProbeRecords {
  const out: ProbeRecords = new Map();
  if (!(to > from)) return out;
  const first = localDayOf(timeZone, from).date;
  const last = localDayOf(timeZone, to - 1).date;
  for (let day = first, i = 0; day <= last && i <= MAX_WINDOW_DAYS; day = addDays(day, 1), i++) {
    let text: string;
    try {
      text = readFileSync(path.join(probeDir(home), `${day}.jsonl`), 'utf8');
    } catch {
      continue;
    }
    for (const raw of text.split('\n')) {
      const r = parseLine(raw);
      if (!r || r.minute < Math.floor(from / MINUTE_MS) * MINUTE_MS || r.minute >= to) continue;
      const byMinute = out.get(r.service) ?? new Map<number, MinuteRecord>();
      out.set(r.service, byMinute);
      const known = byMinute.get(r.minute);
      byMinute.set(r.minute, known ? mergeRecords(known, r) : r);
    }
  }
  return out;
}

function parseLine(raw: string): MinuteRecord | null {
  if (!raw.trim()) return null;
  try {
    const l = JSON.parse(raw) as Partial<Line>;
    const minute = Date.parse(String(l.t));
    if (!Number.isFinite(minute) || typeof l.s !== 'string') return null;
    return {
      minute,
      service: l.s,
      probes: Number(l.n) || 0,
      ok: Number(l.ok) || 0,
      down: Number(l.down) || 0,
      worst: typeof l.w === 'string' ? l.w : 'failed',
      maxLatencyMs: Number(l.ms) || 0,
    };
  } catch {
    return null;
  }
}
