import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import {
  clientRequestId,
  createLogger,
  LineSampler,
  lazyChildLogger,
  logUrl,
  redactUrl,
  truncateUrl,
} from './logger.js';

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logger', () => {
  it('writes JSON lines to {home}/logs/{service}/{date}.jsonl with the date in São Paulo', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'ts-log-'));
    // 02:30 UTC on the 15th is still 23:30 on the 14th in São Paulo (UTC-3).
    const clock = new ManualClock(Date.parse('2026-03-15T02:30:00Z'));
    const { logger } = createLogger({ service: 'gateway', home, timeZone: 'America/Sao_Paulo', clock });
    logger.info({ orderId: 'o-1' }, 'accepted');
    const file = path.join(home, 'logs', 'gateway', '2026-03-14.jsonl');
    const [line] = lines(file);
    expect(line).toMatchObject({ level: 'info', service: 'gateway', msg: 'accepted', orderId: 'o-1' });
    expect(line?.time).toBe('2026-03-15T02:30:00.000Z');
  });

  it('opens a new file when the local day changes', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'ts-log-'));
    const clock = new ManualClock(Date.parse('2026-03-15T02:59:59.500Z')); // 23:59:59.5 local
    const { logger } = createLogger({ service: 'docs', home, timeZone: 'America/Sao_Paulo', clock });
    logger.info('before midnight');
    clock.advance(400);
    logger.info('still before');
    clock.advance(100); // exactly 00:00:00.000 local on the 15th
    logger.info('after midnight');
    clock.advance(86_400_000);
    logger.info('next day');
    const dir = path.join(home, 'logs', 'docs');
    expect(lines(path.join(dir, '2026-03-14.jsonl')).map((l) => l.msg)).toEqual([
      'before midnight',
      'still before',
    ]);
    expect(lines(path.join(dir, '2026-03-15.jsonl')).map((l) => l.msg)).toEqual(['after midnight']);
    expect(lines(path.join(dir, '2026-03-16.jsonl')).map((l) => l.msg)).toEqual(['next day']);
  });

  it('drops lines it cannot write instead of throwing, then says how many were lost', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'ts-log-'));
    const clock = new ManualClock(Date.parse('2026-03-15T15:00:00Z'));
    const dir = path.join(home, 'logs', 'order-manager');
    const file = path.join(dir, '2026-03-15.jsonl');
    mkdirSync(dir, { recursive: true });
    symlinkSync('/dev/full', file); // every write: ENOSPC, as on a full disk
    const { logger, file: destination } = createLogger({
      service: 'order-manager',
      home,
      timeZone: 'America/Sao_Paulo',
      clock,
    });
    expect(() => {
      logger.info('one');
      logger.error({ event: 'x' }, 'two');
    }).not.toThrow();
    expect(destination.linesLost).toBe(2);
    // Space again: the next day's file is writable.
    rmSync(file);
    logger.info('three');
    const written = lines(file);
    expect(written.map((l) => l.msg)).toEqual(['2 log line(s) could not be written', 'three']);
    expect(written[0]).toMatchObject({
      level: 'error',
      event: 'log.lines_lost',
      lines: 2,
      service: 'order-manager',
    });
    expect(String(written[0]?.reason)).toContain('ENOSPC');
    expect(destination.linesLost).toBe(0);
  });

  it('follows a configured time zone', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'ts-log-'));
    const clock = new ManualClock(Date.parse('2026-03-15T02:30:00Z'));
    createLogger({ service: 'x', home, timeZone: 'UTC', clock }).logger.info('utc');
    expect(existsSync(path.join(home, 'logs', 'x', '2026-03-15.jsonl'))).toBe(true);
  });

  it('redacts secrets at any depth and in request headers', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'ts-log-'));
    const clock = new ManualClock(Date.parse('2026-03-15T15:00:00Z'));
    const { logger } = createLogger({ service: 'data-capture', home, timeZone: 'America/Sao_Paulo', clock });
    logger.info(
      {
        password: 'hunter2',
        broker: { activationKey: 'ACT-123', user: 'joao', login: { password: 'deep-secret' } },
        req: { headers: { 'x-api-key': 'key-abc', authorization: 'Bearer tok' } },
        apiKey: 'plain-key',
      },
      'connecting',
    );
    const raw = readFileSync(path.join(home, 'logs', 'data-capture', '2026-03-15.jsonl'), 'utf8');
    for (const secret of ['hunter2', 'ACT-123', 'deep-secret', 'key-abc', 'Bearer tok', 'plain-key']) {
      expect(raw).not.toContain(secret);
    }
    expect(raw).toContain('joao');
    expect(raw).toContain('[redacted]');
  });

  it('gives each request a logger that binds its id and still redacts, made only when a line is written', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'ts-log-'));
    const clock = new ManualClock(Date.parse('2026-03-15T15:00:00Z'));
    const { logger } = createLogger({
      service: 'gateway',
      home,
      timeZone: 'America/Sao_Paulo',
      clock,
      level: 'info',
    });
    let made = 0;
    const counting = Object.create(logger) as typeof logger;
    counting.child = (b, o) => {
      made++;
      return logger.child(b, o);
    };
    const quiet = lazyChildLogger(counting, { reqId: 'r-1' }, {});
    quiet.debug({ n: 1 }, 'below the level');
    expect(made).toBe(0);
    expect(quiet.level).toBe('info');
    const loud = lazyChildLogger(counting, { reqId: 'r-2' }, {});
    loud.warn({ apiKey: 'plain-key' }, 'failed');
    loud.error('again');
    expect(made).toBe(1);
    const written = lines(path.join(home, 'logs', 'gateway', '2026-03-15.jsonl'));
    expect(written.map((l) => [l.reqId, l.msg])).toEqual([
      ['r-2', 'failed'],
      ['r-2', 'again'],
    ]);
    expect(JSON.stringify(written)).not.toContain('plain-key');
  });
});

describe('rejected-request sampling', () => {
  it('cuts long URLs and lets a few lines per key through each window, reporting the rest', () => {
    expect(truncateUrl('/short', 16)).toBe('/short');
    expect(truncateUrl(`/${'a'.repeat(100)}`, 16)).toBe(`/${'a'.repeat(15)}…(101 chars)`);
    const clock = new ManualClock(0);
    const reports: [string, number][] = [];
    const sampler = new LineSampler(2, 1_000, clock, (key, n) => reports.push([key, n]));
    const allowed = Array.from({ length: 10 }, () => sampler.allow('404 unmatched'));
    expect(allowed.filter(Boolean)).toHaveLength(2);
    expect(sampler.allow('401 /api')).toBe(true); // another key has its own budget
    clock.advance(1_000);
    expect(sampler.allow('404 unmatched')).toBe(true);
    expect(reports).toEqual([['404 unmatched', 8]]);
  });
});

describe('secrets in logged URLs (finding 10)', () => {
  it('redacts secret-looking query parameters and API keys anywhere, and keeps the rest', () => {
    const key = `tsk_0011223344556677_${'A'.repeat(43)}`;
    expect(redactUrl(`/ws?apiKey=${key}&ticker=WINZ26`)).toBe('/ws?apiKey=[redacted]&ticker=WINZ26');
    expect(redactUrl('/a?token=t1&access_token=t2&X-API-Key=k&client-secret=s&password=p&key=k&q=ok')).toBe(
      '/a?token=[redacted]&access_token=[redacted]&X-API-Key=[redacted]&client-secret=[redacted]&password=[redacted]&key=[redacted]&q=ok',
    );
    expect(redactUrl('/a?api%5Fkey=x#frag')).toBe('/a?api%5Fkey=[redacted]#frag');
    expect(redactUrl(`/keys/${key}?${key}`)).toBe('/keys/[redacted]?[redacted]');
    expect(redactUrl('/api/v1/trades?ticker=WINZ26&limit=5')).toBe('/api/v1/trades?ticker=WINZ26&limit=5');
    // Redacted before it is cut, so a long URL cannot push a secret past the cut.
    expect(logUrl(`/x?token=${'s'.repeat(50)}`, 20)).toBe('/x?token=[redacted]');
  });

  it('keeps a client request id only as short safe text', () => {
    expect(clientRequestId('abc-123')).toBe('abc-123');
    expect(clientRequestId('a"}\n{"level":"fatal')).toBe('alevel:fatal');
    expect(clientRequestId('x'.repeat(200))).toHaveLength(64);
    expect(clientRequestId(undefined)).toBeUndefined();
    expect(clientRequestId('"{}')).toBeUndefined();
  });
});
