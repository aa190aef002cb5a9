import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { type DestinationStream, type Logger, pino } from 'pino';
import { type Clock, systemClock } from './clock.js';
import { localDate, msUntilNextLocalDay } from './time.js';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line, wherever they appear in an object. */
export const SECRET_KEYS = [
  'password',
  'passwd',
  'secret',
  'token',
  'apiKey',
  'api_key',
  'activationKey',
  'routingPassword',
  'Password',
  'authorization',
  'cookie',
  'x-api-key',
];

const REDACT_PATHS = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const dot = key.startsWith('[') ? key : `.${key}`;
  return [key, `*${dot}`, `*.*${dot}`, `req.headers${dot}`];
});

/**
 * Appends JSON lines to `{dir}/{YYYY-MM-DD}.jsonl`, the date taken in `timeZone`; a write after the
 * local midnight opens the next day's file. Writes are synchronous so a crash loses no line.
 * A line that cannot be written (a full or read-only disk) is counted and dropped, never thrown at
 * the code that logged it: logging must not take a service down. The first loss is told on stderr
 * (the supervisor keeps a process's last output); once writing works again, a `log.lines_lost`
 * line says how many went missing.
 */
export class DailyFileDestination implements DestinationStream {
  private fd = -1;
  private day = '';
  private nextCheckAt = 0;
  /** Lines dropped since the last line that was written, and why the latest was. */
  private lost = 0;
  private lostReason = '';
  /** A write stopped part-way: the next line starts on a fresh line. */
  private torn = false;

  constructor(
    private readonly dir: string,
    private readonly timeZone: string,
    private readonly clock: Clock = systemClock,
  ) {}

  get currentFile(): string {
    return path.join(this.dir, `${this.day}.jsonl`);
  }

  /** Lines dropped since writing last worked. */
  get linesLost(): number {
    return this.lost;
  }

  write(line: string): void {
    const now = this.clock.now();
    try {
      if (this.fd < 0 || now >= this.nextCheckAt || now < this.nextCheckAt - 3_600_000) this.roll(now);
      if (this.lost > 0 || this.torn) {
        this.writeAll(this.lossLine(now));
        this.lost = 0;
      }
      this.writeAll(line);
    } catch (err) {
      if (this.lost === 0) {
        process.stderr.write(`log ${this.dir} not writable, dropping lines: ${(err as Error).message}\n`);
      }
      this.lost += 1;
      this.lostReason = (err as Error).message;
      // Opened afresh next time: the disk may be remounted or the file replaced meanwhile.
      this.close();
    }
  }

  close(): void {
    const fd = this.fd;
    this.fd = -1;
    try {
      if (fd >= 0) closeSync(fd);
    } catch {
      // A close that fails (EIO) leaves nothing to do: the next write opens the file again.
    }
  }

  private writeAll(text: string): void {
    const bytes = Buffer.from(text);
    const written = writeSync(this.fd, bytes);
    this.torn = written < bytes.length;
    if (this.torn) throw new Error(`short write (${written} of ${bytes.length} bytes)`);
  }

  /** The line that reports what was dropped, starting a fresh line if the last one was torn. */
  private lossLine(now: number): string {
    const prefix = this.torn ? '\n' : '';
    if (this.lost === 0) return prefix;
    return `${prefix}${JSON.stringify({
      level: 'error',
      time: new Date(now).toISOString(),
      service: path.basename(this.dir),
      pid: process.pid,
      event: 'log.lines_lost',
      lines: this.lost,
      reason: this.lostReason,
      msg: `${this.lost} log line(s) could not be written`,
    })}\n`;
  }

  private roll(now: number): void {
    const day = localDate(this.timeZone, now);
    this.nextCheckAt = now + msUntilNextLocalDay(this.timeZone, now);
    if (day === this.day && this.fd >= 0) return;
    this.close();
    this.day = day;
    mkdirSync(this.dir, { recursive: true });
    this.fd = openSync(this.currentFile, 'a');
  }
}

export interface LoggerOptions {
  service: string;
  home: string;
  timeZone: string;
  level?: string;
  /** Also print readable lines to the terminal (foreground runs). */
  console?: boolean;
  clock?: Clock;
}

export interface ServiceLogger {
  logger: Logger;
  file: DailyFileDestination;
}

/** pino writing JSON lines to `{home}/logs/{service}/{date}.jsonl`, secrets redacted. */
export function createLogger(opts: LoggerOptions): ServiceLogger {
  const clock = opts.clock ?? systemClock;
  const file = new DailyFileDestination(path.join(opts.home, 'logs', opts.service), opts.timeZone, clock);
  const streams: pino.StreamEntry[] = [{ stream: file, level: 'trace' }];
  if (opts.console) streams.push({ stream: consoleStream(), level: 'trace' });
  const logger = pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service, pid: process.pid },
      timestamp: () => `,"time":"${new Date(clock.now()).toISOString()}"`,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.multistream(streams),
  );
  return { logger, file };
}

function consoleStream(): DestinationStream {
  return {
    write(line: string) {
      process.stdout.write(formatConsoleLine(line));
    },
  };
}

/** A compact human line from a JSON log line: `12:00:01 INFO  gateway  message {extra}`. */
export function formatConsoleLine(line: string): string {
  try {
    const { time, level, service, msg, pid: _pid, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const hhmmss = typeof time === 'string' ? time.slice(11, 19) : '';
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    return `${hhmmss} ${String(level).toUpperCase().padEnd(5)} ${service} ${msg ?? ''}${extra}\n`;
  } catch {
    return line;
  }
}

/**
 * The per-request logger Fastify asks for on every request: pino's `child` is made only when a
 * line at an enabled level is written. Made eagerly (its bindings pass through the secret
 * redaction) it cost more than the rest of a small request's logging put together.
 */
class LazyChildLogger {
  private made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: pino.Bindings,
    private readonly options: pino.ChildLoggerOptions,
  ) {}

  private get real(): Logger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return this.made;
  }

  private write(level: pino.Level, args: unknown[]): void {
    if (!(this.made ?? this.parent).isLevelEnabled(level)) return;
    (this.real[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.made ?? this.parent).level;
  }
  set level(level: string) {
    this.real.level = level;
  }
  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }
  child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions): Logger {
    return this.real.child(bindings, options);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
}

export function lazyChildLogger(parent: Logger, bindings: pino.Bindings, options: pino.ChildLoggerOptions) {
  // A route's own log level decides what is written: that child is made at once.
  if (options.level !== undefined) return parent.child(bindings, options);
  return new LazyChildLogger(parent, bindings, options) as unknown as Logger;
}

/** A URL as logged: at most `max` characters, and says how long it was when cut. */
export function truncateUrl(url: string, max: number): string {
  return url.length <= max ? url : `${url.slice(0, max)}…(${url.length} chars)`;
}

/** Query parameters whose values never reach a log line: a key or token put in a URL by a client. */
const SECRET_PARAM =
  /(?:key|token|secret|password|passwd|pwd|signature|credentials?)$|^(?:auth|authorization|sig|session|sessionid)$/;

/** A URL with the value of every secret-looking query parameter replaced; nothing else changes. */
export function redactUrl(raw: string): string {
  // An API key is recognisable wherever it was put (a path segment, a bare query word).
  const url = raw.replace(/tsk_[0-9a-f]{16}_[A-Za-z0-9_-]+/g, '[redacted]');
  const q = url.indexOf('?');
  if (q === -1) return url;
  const hash = url.indexOf('#', q);
  const end = hash === -1 ? url.length : hash;
  const query = url
    .slice(q + 1, end)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // A name that does not decode is judged as written.
      }
      // apiKey, api_key, X-API-Key, access_token, client-secret…: compared without case or separators.
      return SECRET_PARAM.test(name.toLowerCase().replace(/[^a-z0-9]/g, ''))
        ? `${pair.slice(0, eq)}=[redacted]`
        : pair;
    })
    .join('&');
  return `${url.slice(0, q + 1)}${query}${url.slice(end)}`;
}

/** The URL of a request log line: secrets redacted first, then cut to `max` characters. */
export const logUrl = (url: string, max: number): string => truncateUrl(redactUrl(url), max);

/** A request id a client sent: logged apart from ours (`clientReqId`), only as safe characters, short. */
export function clientRequestId(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const safe = value.replace(/[^A-Za-z0-9._:-]/g, '').slice(0, 64);
  return safe || undefined;
}

/**
 * Lets `max` lines per key through in each window; the rest are counted and told once, by
 * `report`, when the key's next window begins. Keys are few (route and status), so the map stays small.
 */
export class LineSampler {
  private readonly byKey = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
    private readonly report: (key: string, suppressed: number) => void,
  ) {}

  allow(key: string): boolean {
    const now = this.clock.now();
    let entry = this.byKey.get(key);
    if (!entry) {
      // Bounded even if keys were not: forget everything rather than grow.
      if (this.byKey.size >= 10_000) this.byKey.clear();
      entry = { start: now, count: 0, suppressed: 0 };
      this.byKey.set(key, entry);
    } else if (now - entry.start >= this.windowMs) {
      if (entry.suppressed > 0) this.report(key, entry.suppressed);
      entry.start = now;
      entry.count = 0;
      entry.suppressed = 0;
    }
    if (entry.count < this.max) {
      entry.count++;
      return true;
    }
    entry.suppressed++;
    return false;
  }
}
