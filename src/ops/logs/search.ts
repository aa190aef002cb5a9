import { createReadStream, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { addDays, localDate, partsIn } from '../../kernel/time.js';
import { UsageError } from '../usage.js';

/** pino's levels, lowest first. */
export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LevelName = (typeof LEVELS)[number];

const DAILY = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const READ_CHUNK = 64 * 1024;
/** A line longer than this (a runaway log call) is cut: one record never holds the reader's memory. */
const MAX_LINE_BYTES = 1024 * 1024;

/** `--since`: `30s`, `10m`, `1h`, `2d` ago, or an ISO-8601 instant. */
export function parseSince(text: string, now: number): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (m) return now - Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
  const t = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(t)) {
    throw new UsageError(
      `--since must be a duration such as 30s, 10m, 1h, 2d or an ISO-8601 time (got '${text}')`,
    );
  }
  return t;
}

export function parseLevel(text: string): LevelName {
  const level = LEVELS.find((l) => l === text.trim().toLowerCase());
  if (!level) throw new UsageError(`--level must be one of ${LEVELS.join(', ')} (got '${text}')`);
  return level;
}

export interface LogQuery {
  /** Only these services (names of folders under `logs/`); all when empty. */
  services?: readonly string[];
  /** This level and above. */
  level?: LevelName;
  /** Records at or after this instant. */
  since?: number;
  /** Case-insensitive text the raw line must contain. */
  grep?: string;
}

export interface LogRecord {
  time: number;
  service: string;
  level: string;
  /** The line as written (no newline). */
  line: string;
  record: Record<string, unknown>;
}

/** The services that have logs: the folders under `{home}/logs`. */
export function logServices(home: string): string[] {
  try {
    return readdirSync(path.join(home, 'logs'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

/** Where a service's reading stands: the day file and the byte after the last whole line read. */
interface Position {
  service: string;
  dir: string;
  file: string | null;
  offset: number;
}

/**
 * The JSONL logs of every service, merged by time: each service's daily files are read as a stream
 * (they are in time order), and a k-way merge takes the earliest head each time, so memory holds one
 * pending record per service whatever the size of the files. `follow` then tails what is appended,
 * moving to the next day's file when the service opens it.
 */
export class LogReader {
  private readonly positions: Position[];
  private readonly grep: string | undefined;
  private readonly minLevel: number;

  constructor(
    private readonly home: string,
    private readonly timeZone: string,
    private readonly q: LogQuery = {},
  ) {
    this.grep = q.grep?.toLowerCase();
    this.minLevel = q.level ? LEVELS.indexOf(q.level) : 0;
    this.positions = this.wanted(logServices(home)).map((service) => ({
      service,
      dir: path.join(home, 'logs', service),
      file: null,
      offset: 0,
    }));
  }

  /** Every matching record already written, in time order. */
  async *history(): AsyncGenerator<LogRecord> {
    const heads = this.positions.map((p) => ({
      it: this.readService(p),
      next: null as LogRecord | null,
      done: false,
    }));
    for (const h of heads) await advance(h);
    for (;;) {
      let best: (typeof heads)[number] | null = null;
      for (const h of heads) {
        if (h.next && (!best?.next || h.next.time < best.next.time)) best = h;
      }
      if (!best?.next) return;
      yield best.next;
      await advance(best);
    }
  }

  /**
   * What is appended from now on, batch by batch (each batch in time order), until `signal` aborts.
   * Call after `history()` is drained: it goes on from where that stopped.
   */
  async *follow(signal: AbortSignal, pollMs = 250): AsyncGenerator<LogRecord[]> {
    const seen = new Set(this.positions.map((p) => p.service));
    while (!signal.aborted) {
      for (const service of this.wanted(logServices(this.home))) {
        if (seen.has(service)) continue;
        seen.add(service);
        this.positions.push({ service, dir: path.join(this.home, 'logs', service), file: null, offset: 0 });
      }
      const batch: LogRecord[] = [];
      for (const p of this.positions) {
        for await (const r of this.readService(p)) batch.push(r);
      }
      // Stable: equal times keep their service's order.
      batch.sort((a, b) => a.time - b.time);
      if (batch.length) yield batch;
      await sleep(pollMs, signal);
    }
  }

  private wanted(services: string[]): string[] {
    const only = this.q.services;
    return only?.length ? services.filter((s) => only.includes(s)) : services;
  }

  /**
   * The records of one service from its position on: the rest of its current file, then every
   * later day file. Stops at the end of what is written; the position keeps the place.
   */
  private async *readService(p: Position): AsyncGenerator<LogRecord> {
    const firstDate = this.q.since === undefined ? '' : addDays(localDate(this.timeZone, this.q.since), -1);
    const files = dailyFiles(p.dir).filter((f) => f >= `${firstDate}` && (p.file === null || f >= p.file));
    for (const name of files) {
      if (name !== p.file) {
        p.file = name;
        p.offset = 0;
      }
      const file = path.join(p.dir, name);
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        continue;
      }
      if (size < p.offset) p.offset = 0; // cut down (clean-logs) or replaced: read it afresh
      for await (const { line, end } of readLines(file, p.offset, size)) {
        p.offset = end;
        const r = this.match(p.service, line);
        if (r) yield r;
      }
    }
  }

  private match(service: string, line: string): LogRecord | null {
    if (this.grep && !line.toLowerCase().includes(this.grep)) return null;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return null; // a torn line (a crash mid-write)
    }
    if (typeof record !== 'object' || record === null) return null;
    const time = typeof record.time === 'string' ? Date.parse(record.time) : Number(record.time);
    if (!Number.isFinite(time)) return null;
    if (this.q.since !== undefined && time < this.q.since) return null;
    const level = String(record.level ?? 'info');
    if (LEVELS.indexOf(level as LevelName) < this.minLevel) return null;
    // The folder names the writer: a supervisor line about a service carries that service's name.
    return {
      time,
      service,
      level,
      line,
      record,
    };
  }
}

async function advance(h: { it: AsyncGenerator<LogRecord>; next: LogRecord | null; done: boolean }) {
  if (h.done) return;
  const r = await h.it.next();
  h.done = Boolean(r.done);
  h.next = r.done ? null : r.value;
}

function dailyFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => DAILY.test(n))
      .sort();
  } catch {
    return [];
  }
}

/**
 * The whole lines of bytes [start, end) of a file, each with the offset just after it. A last
 * line without its newline is being written: it is left for the next read.
 */
async function* readLines(
  file: string,
  start: number,
  end: number,
): AsyncGenerator<{ line: string; end: number }> {
  if (end <= start) return;
  const stream = createReadStream(file, { start, end: end - 1, highWaterMark: READ_CHUNK });
  let pending: Buffer = Buffer.alloc(0);
  let pendingAt = start;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let from = 0;
      for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, from)) {
        const line = buf.subarray(from, nl).toString('utf8');
        from = nl + 1;
        if (line.trim()) yield { line, end: pendingAt + from };
      }
      buf = buf.subarray(from);
      pendingAt += from;
      if (buf.length > MAX_LINE_BYTES) {
        pendingAt += buf.length;
        buf = Buffer.alloc(0);
      }
      pending = Buffer.from(buf);
    }
  } finally {
    stream.destroy();
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** `2026-03-16 12:00:01.234 WARN  data-capture  broker.state  message`, the time local to `timeZone`. */
export function formatRecord(r: LogRecord, timeZone: string): string {
  const p = partsIn(timeZone, r.time);
  const ms = String(((r.time % 1000) + 1000) % 1000).padStart(3, '0');
  const time = `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${ms}`;
  const event = typeof r.record.event === 'string' ? r.record.event : '-';
  const msg = typeof r.record.msg === 'string' ? r.record.msg : '';
  const err =
    r.record.err === undefined
      ? ''
      : ` err=${typeof r.record.err === 'string' ? r.record.err : JSON.stringify(r.record.err)}`;
  return `${time} ${r.level.toUpperCase().padEnd(5)} ${r.service.padEnd(13)} ${event} ${msg}${err}`;
}
