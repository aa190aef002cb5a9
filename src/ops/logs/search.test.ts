import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../kernel/clock.js';
import { createLogger } from '../../kernel/logger.js';
import { UsageError } from '../usage.js';
import { formatRecord, LogReader, type LogRecord, parseLevel, parseSince } from './search.js';

const ZONE = 'America/Sao_Paulo';
const at = (iso: string) => Date.parse(iso);
const home = () => mkdtempSync(path.join(os.tmpdir(), 'ts-logs-'));

/** A real service logger on a clock the test moves. */
function serviceLog(h: string, service: string, startIso: string) {
  const clock = new ManualClock(at(startIso));
  const { logger, file } = createLogger({ service, home: h, timeZone: ZONE, level: 'trace', clock });
  return { logger, clock, file };
}

async function all(reader: LogReader): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of reader.history()) out.push(r);
  return out;
}

describe('logs: merge and filters', () => {
  it('merges every service by time across day files, without reading them whole', async () => {
    const h = home();
    const a = serviceLog(h, 'data-capture', '2026-03-16T23:00:00Z');
    const b = serviceLog(h, 'gateway', '2026-03-16T23:00:00Z');
    // Interleaved in time, each service in its own files; the São Paulo day rolls at 03:00 UTC.
    for (let i = 0; i < 300; i++) {
      const w = i % 3 === 0 ? b : a;
      w.clock.set(at('2026-03-16T23:00:00Z') + i * 60_000);
      w.logger.info({ event: 'tick', i }, `line ${i}`);
    }
    expect(readdirSync(path.join(h, 'logs', 'data-capture')).sort()).toEqual([
      '2026-03-16.jsonl',
      '2026-03-17.jsonl',
    ]);
    const got = await all(new LogReader(h, ZONE));
    expect(got.map((r) => r.record.i)).toEqual([...Array(300).keys()]);
    expect(new Set(got.map((r) => r.service))).toEqual(new Set(['data-capture', 'gateway']));
  });

  it('filters by service, level (and above), since and text; skips torn lines', async () => {
    const h = home();
    const a = serviceLog(h, 'data-capture', '2026-03-16T12:00:00Z');
    const b = serviceLog(h, 'order-manager', '2026-03-16T12:00:00Z');
    a.logger.info({ event: 'a.info' }, 'first');
    a.clock.advance(1_000);
    a.logger.warn({ event: 'a.warn' }, 'broker slow');
    b.clock.advance(2_000);
    b.logger.error({ event: 'b.error' }, 'journal commit failed');
    a.clock.advance(2_000);
    a.logger.debug({ event: 'a.debug' }, 'noise');
    appendFileSync(
      path.join(h, 'logs', 'order-manager', '2026-03-16.jsonl'),
      '{"level":"error","time":"2026',
    );
    const events = async (q: ConstructorParameters<typeof LogReader>[2]) =>
      (await all(new LogReader(h, ZONE, q))).map((r) => r.record.event);
    expect(await events({})).toEqual(['a.info', 'a.warn', 'b.error', 'a.debug']);
    expect(await events({ level: 'warn' })).toEqual(['a.warn', 'b.error']);
    expect(await events({ services: ['data-capture'], level: 'info' })).toEqual(['a.info', 'a.warn']);
    expect(await events({ since: at('2026-03-16T12:00:01.500Z') })).toEqual(['b.error', 'a.debug']);
    expect(await events({ grep: 'JOURNAL' })).toEqual(['b.error']);
  });

  it('parses --since and --level, refusing what is neither', () => {
    const now = at('2026-03-16T12:00:00Z');
    expect(parseSince('1h', now)).toBe(now - 3_600_000);
    expect(parseSince('10m', now)).toBe(now - 600_000);
    expect(parseSince('30s', now)).toBe(now - 30_000);
    expect(parseSince('2d', now)).toBe(now - 2 * 86_400_000);
    expect(parseSince('2026-03-16T09:00:00-03:00', now)).toBe(at('2026-03-16T12:00:00Z'));
    for (const bad of ['1w', 'yesterday', '', '-1h', '12'])
      expect(() => parseSince(bad, now)).toThrow(UsageError);
    expect(parseLevel('WARN')).toBe('warn');
    expect(() => parseLevel('loud')).toThrow(/must be one of trace, debug, info, warn, error, fatal/);
  });

  it('prints a readable line, the time in the configured zone', () => {
    const line = formatRecord(
      {
        time: at('2026-03-16T12:00:01.234Z'),
        service: 'gateway',
        level: 'warn',
        line: '',
        record: { event: 'gateway.slow', msg: 'upstream slow' },
      },
      ZONE,
    );
    expect(line).toBe('2026-03-16 09:00:01.234 WARN  gateway       gateway.slow upstream slow');
  });
});

describe('logs --follow', () => {
  it('tails new lines, a line written in two parts once whole, and goes on into the next day file', async () => {
    const h = home();
    const a = serviceLog(h, 'data-capture', '2026-03-17T02:59:00Z'); // 23:59 in São Paulo
    a.logger.info({ event: 'before' }, 'already there');
    const reader = new LogReader(h, ZONE, { services: ['data-capture', 'docs'] });
    expect((await all(reader)).map((r) => r.record.event)).toEqual(['before']);

    const stop = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const batch of reader.follow(stop.signal, 20))
        for (const r of batch) seen.push(String(r.record.event));
    })();
    const until = async (n: number) => {
      for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    a.logger.info({ event: 'same-day' }, 'appended');
    await until(1);
    a.clock.set(at('2026-03-17T03:00:05Z')); // past local midnight: the logger opens the next file
    a.logger.info({ event: 'next-day' }, 'after the roll');
    await until(2);
    // A service that starts logging while we follow is picked up too, and a half-written line waits.
    const dir = path.join(h, 'logs', 'docs');
    mkdirSync(dir, { recursive: true });
    const half = JSON.stringify({
      level: 'info',
      time: '2026-03-17T03:00:06.000Z',
      service: 'docs',
      event: 'docs.late',
    });
    writeFileSync(path.join(dir, '2026-03-17.jsonl'), half.slice(0, 20));
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(['same-day', 'next-day']);
    appendFileSync(path.join(dir, '2026-03-17.jsonl'), `${half.slice(20)}\n`);
    await until(3);
    stop.abort();
    await following;
    expect(seen).toEqual(['same-day', 'next-day', 'docs.late']);
    expect(readdirSync(path.join(h, 'logs', 'data-capture')).sort()).toEqual([
      '2026-03-16.jsonl',
      '2026-03-17.jsonl',
    ]);
  });
});
