import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../kernel/clock.js';
import { DailyJobs } from './schedule.js';

/** A pino logger whose lines the test reads back. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'trace' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { logger, events: () => lines.map((l) => l.event), lines };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ts-schedule-'));
  dirs.push(d);
  return d;
}
const started: DailyJobs[] = [];
afterEach(async () => {
  for (const j of started.splice(0)) await j.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function jobs(opts: ConstructorParameters<typeof DailyJobs>[0]): DailyJobs {
  const j = new DailyJobs({ maxSleepMs: 3_600_000, ...opts });
  started.push(j);
  return j;
}

describe('DailyJobs', () => {
  it('runs a job at its local time in the configured zone, once a day', async () => {
    // 01:59 in São Paulo (UTC-3) is 04:59Z.
    const clock = new ManualClock(Date.parse('2026-12-10T04:59:00Z'));
    const { logger } = capture();
    const runs: number[] = [];
    const s = jobs({ timeZone: 'America/Sao_Paulo', logger, clock });
    s.add({ name: 'nightly', at: '02:00', run: () => runs.push(clock.now()) });
    expect(s.status()[0]?.nextRunAt).toBe('2026-12-10T05:00:00.000Z');
    await s.tick();
    expect(runs).toEqual([]);
    clock.set(Date.parse('2026-12-10T04:59:59.999Z'));
    await s.tick();
    expect(runs, 'not a millisecond early').toEqual([]);
    clock.set(Date.parse('2026-12-10T05:00:00Z'));
    await s.tick();
    expect(runs).toEqual([Date.parse('2026-12-10T05:00:00Z')]);
    clock.advance(60_000);
    await s.tick();
    expect(runs, 'once per day').toHaveLength(1);
    expect(s.status()[0]).toMatchObject({ nextRunAt: '2026-12-11T05:00:00.000Z', running: false });
    expect(s.status()[0]?.lastRun).toMatchObject({ ok: true, trigger: 'schedule' });
    clock.set(Date.parse('2026-12-11T05:00:30Z'));
    await s.tick();
    expect(runs).toHaveLength(2);
  });

  it('follows daylight saving: the same local time in Berlin is an hour apart in UTC across the change', async () => {
    // Berlin is UTC+1 in winter, UTC+2 from 2026-03-29 03:00 local.
    const clock = new ManualClock(Date.parse('2026-03-27T12:00:00Z'));
    const { logger } = capture();
    const s = jobs({ timeZone: 'Europe/Berlin', logger, clock });
    s.add({ name: 'early', at: '04:00', run: () => {} });
    expect(s.status()[0]?.nextRunAt).toBe('2026-03-28T03:00:00.000Z');
    clock.set(Date.parse('2026-03-28T03:00:00Z'));
    await s.tick();
    expect(s.status()[0]?.nextRunAt).toBe('2026-03-29T02:00:00.000Z');
  });

  it('makes up a run missed while it was down, at start, and only a missed one', async () => {
    const dir = tempDir();
    const stateFile = path.join(dir, 'run', 'schedule.json');
    const { logger, events } = capture();
    // Day 1, 02:00 São Paulo: it runs and the state file records it.
    const clock = new ManualClock(Date.parse('2026-12-09T04:00:00Z'));
    const first = jobs({ timeZone: 'America/Sao_Paulo', logger, clock, stateFile });
    let count = 0;
    first.add({ name: 'backup', at: '02:00', catchUp: true, run: () => ++count });
    clock.set(Date.parse('2026-12-09T05:00:00Z'));
    await first.tick();
    await first.stop();
    expect(count).toBe(1);
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).backup).toMatchObject({ ok: true, result: 1 });

    // Started again the same day at 09:00: the 02:00 run happened, nothing to make up.
    clock.set(Date.parse('2026-12-09T12:00:00Z'));
    const sameDay = jobs({ timeZone: 'America/Sao_Paulo', logger, clock, stateFile });
    sameDay.add({ name: 'backup', at: '02:00', catchUp: true, run: () => ++count });
    await sameDay.start();
    await sameDay.stop();
    expect(count).toBe(1);

    // Down over the next 02:00, started at 08:00 on day 2: made up at once, marked catch-up.
    clock.set(Date.parse('2026-12-10T11:00:00Z'));
    const next = jobs({ timeZone: 'America/Sao_Paulo', logger, clock, stateFile });
    let other = 0;
    next.add({ name: 'backup', at: '02:00', catchUp: true, run: () => ++count });
    next.add({ name: 'no-catch-up', at: '02:00', run: () => ++other });
    await next.start();
    await next.stop();
    expect(count).toBe(2);
    expect(other, 'a job that does not ask for it waits for its time').toBe(0);
    expect(events()).toContain('schedule.catch_up');
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).backup).toMatchObject({
      ok: true,
      trigger: 'catch-up',
    });
  });

  it("goes by the job's own last success when it knows better than the state file", async () => {
    const { logger } = capture();
    const clock = new ManualClock(Date.parse('2026-12-10T11:00:00Z'));
    let count = 0;
    const s = jobs({ timeZone: 'America/Sao_Paulo', logger, clock });
    s.add({
      name: 'backup',
      at: '02:00',
      catchUp: true,
      lastSuccess: () => Date.parse('2026-12-10T05:10:00Z'),
      run: () => ++count,
    });
    await s.start();
    await s.stop();
    expect(count).toBe(0);
  });

  it('logs a failing job, keeps its last success, and runs the others and the next day', async () => {
    const dir = tempDir();
    const stateFile = path.join(dir, 'schedule.json');
    const { logger, lines } = capture();
    const clock = new ManualClock(Date.parse('2026-12-10T04:00:00Z'));
    const s = jobs({ timeZone: 'America/Sao_Paulo', logger, clock, stateFile });
    let fails = true;
    const done: string[] = [];
    s.add({
      name: 'throws',
      at: '02:00',
      run: () => {
        if (fails) throw new Error('disk on fire');
        done.push('throws');
      },
    });
    s.add({
      name: 'rejects',
      at: '02:00',
      run: async () => {
        throw new Error('async trouble');
      },
    });
    s.add({ name: 'fine', at: '02:00', run: () => done.push('fine') });
    clock.set(Date.parse('2026-12-10T05:00:00Z'));
    await s.tick();
    expect(done).toEqual(['fine']);
    const failed = lines.filter((l) => l.event === 'schedule.job_failed');
    expect(failed.map((l) => [l.job, l.err])).toEqual([
      ['throws', 'disk on fire'],
      ['rejects', 'async trouble'],
    ]);
    const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
    expect(saved.throws).toMatchObject({ ok: false, error: 'disk on fire' });
    expect(saved.fine).toMatchObject({ ok: true });

    fails = false;
    clock.set(Date.parse('2026-12-11T05:00:00Z'));
    await s.tick();
    expect(done).toEqual(['fine', 'throws', 'fine']);
    expect(s.status().find((j) => j.name === 'throws')?.lastRun).toMatchObject({ ok: true });
  });

  it('a job still running does not hold back another, nor run twice at once', async () => {
    const { logger, events } = capture();
    const clock = new ManualClock(Date.parse('2026-12-10T04:00:00Z'));
    const s = jobs({ timeZone: 'America/Sao_Paulo', logger, clock });
    let release: () => void = () => {};
    let slowRuns = 0;
    s.add({
      name: 'slow',
      at: '02:00',
      run: () => {
        slowRuns += 1;
        return new Promise<void>((r) => {
          release = r;
        });
      },
    });
    let quick = 0;
    s.add({ name: 'quick', at: '02:15', run: () => ++quick });
    clock.set(Date.parse('2026-12-10T05:00:00Z'));
    const slowDone = s.tick();
    clock.set(Date.parse('2026-12-10T05:15:00Z'));
    await s.tick();
    expect(quick).toBe(1);
    expect(s.status().find((j) => j.name === 'slow')?.running).toBe(true);
    const again = s.runNow('slow');
    expect(events()).toContain('schedule.job_overlap');
    expect(slowRuns).toBe(1);
    release();
    await Promise.all([slowDone, again]);
    expect(s.status().find((j) => j.name === 'slow')?.running).toBe(false);
  });

  it('keeps a damaged state file aside and carries on as if no run was recorded', async () => {
    const dir = tempDir();
    const stateFile = path.join(dir, 'schedule.json');
    writeFileSync(stateFile, '{"clean-logs": {"startedAt": "2026-12-10T03:30:00.000Z", "ok": tr');
    const { logger, events } = capture();
    const clock = new ManualClock(Date.parse('2026-12-10T11:00:00Z'));
    const s = jobs({ timeZone: 'America/Sao_Paulo', logger, clock, stateFile });
    let count = 0;
    s.add({ name: 'clean-logs', at: '00:30', catchUp: true, run: () => ++count });
    await s.start();
    await s.stop();
    expect(events()).toContain('schedule.state_unreadable');
    expect(count, 'no record: made up').toBe(1);
    const aside = readdirSync(dir).filter((n) => n.startsWith('schedule.json.damaged-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(path.join(dir, aside[0] ?? ''), 'utf8')).toContain('"ok": tr');
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))['clean-logs']).toMatchObject({ ok: true });
  });

  it('ignores entries of the state file that are not records', async () => {
    const dir = tempDir();
    const stateFile = path.join(dir, 'schedule.json');
    writeFileSync(stateFile, JSON.stringify({ 'clean-logs': 'yesterday', other: null }));
    const { logger } = capture();
    const s = jobs({ timeZone: 'America/Sao_Paulo', logger, stateFile, clock: new ManualClock() });
    s.add({ name: 'clean-logs', at: '00:30', run: () => {} });
    expect(s.status()[0]?.lastRun).toBeNull();
  });

  it('a state file it cannot write is logged, and the jobs go on', async () => {
    const dir = tempDir();
    // Its folder would have to be inside a regular file: every write fails (as root too).
    writeFileSync(path.join(dir, 'run'), 'not a folder');
    const stateFile = path.join(dir, 'run', 'schedule.json');
    const { logger, events } = capture();
    const clock = new ManualClock(Date.parse('2026-12-10T04:00:00Z'));
    const s = jobs({ timeZone: 'America/Sao_Paulo', logger, clock, stateFile });
    let count = 0;
    s.add({ name: 'a', at: '02:00', run: () => ++count });
    s.add({ name: 'b', at: '02:00', run: () => ++count });
    clock.set(Date.parse('2026-12-10T05:00:00Z'));
    await s.tick();
    expect(count).toBe(2);
    expect(events().filter((e) => e === 'schedule.state_write_failed')).toHaveLength(2);
    expect(s.status().map((j) => j.lastRun?.ok)).toEqual([true, true]);
    expect(existsSync(stateFile)).toBe(false);
  });

  it('keeps time by itself: the timer runs a job whose time comes', async () => {
    const { logger } = capture();
    const at = new Date(Date.now() + 60_000);
    // The job's minute in UTC; the real clock runs until then is too long, so the clock is moved.
    const clock = new ManualClock(Date.parse(`${at.toISOString().slice(0, 16)}:00.000Z`) - 1);
    const s = new DailyJobs({ timeZone: 'UTC', logger, clock, maxSleepMs: 20 });
    started.push(s);
    let ran = false;
    s.add({ name: 'timed', at: at.toISOString().slice(11, 16), run: () => (ran = true) });
    await s.start();
    await new Promise((r) => setTimeout(r, 60));
    expect(ran).toBe(false);
    clock.advance(1);
    const deadline = Date.now() + 2_000;
    while (!ran && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(ran).toBe(true);
  });

  it('refuses a time that is not HH:MM and a name used twice', () => {
    const { logger } = capture();
    const s = jobs({ timeZone: 'UTC', logger });
    expect(() => s.add({ name: 'x', at: '2:00', run: () => {} })).toThrow(/HH:MM/);
    expect(() => s.add({ name: 'x', at: '24:00', run: () => {} })).toThrow(/HH:MM/);
    s.add({ name: 'x', at: '02:00', run: () => {} });
    expect(() => s.add({ name: 'x', at: '03:00', run: () => {} })).toThrow(/already/);
  });
});
