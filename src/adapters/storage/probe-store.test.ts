import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../kernel/clock.js';
import {
  firstRecordedMinute,
  ProbeRecorder,
  type ProbeSample,
  probeDir,
  readProbeRecords,
} from './probe-store.js';

const ZONE = 'America/Sao_Paulo';
const at = (iso: string) => Date.parse(iso);
const home = () => mkdtempSync(path.join(os.tmpdir(), 'ts-probes-'));

function recorder(h: string, clock = new ManualClock(at('2026-03-16T12:00:00Z'))) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  const r = new ProbeRecorder({
    home: h,
    timeZone: ZONE,
    flushIntervalMs: 60_000,
    retentionDays: 400,
    logger,
    clock,
  });
  return { r, lines, clock };
}

const probe = (service: string, iso: string, over: Partial<ProbeSample> = {}): ProbeSample => ({
  service,
  at: at(iso),
  ok: true,
  latencyMs: 3,
  state: 'healthy',
  ...over,
});

describe('probe records', () => {
  it('aggregates per service per minute: probes, ok, down, worst state, max latency', () => {
    const h = home();
    const { r } = recorder(h);
    r.onProbe(probe('gateway', '2026-03-16T12:00:01Z'));
    r.onProbe(
      probe('gateway', '2026-03-16T12:00:06Z', {
        ok: false,
        state: 'unhealthy',
        latencyMs: 40,
      }),
    );
    r.onProbe(probe('gateway', '2026-03-16T12:01:01Z'));
    r.onProbe(probe('docs', '2026-03-16T12:00:02Z', { state: 'degraded' }));
    r.flush();
    const got = readProbeRecords(h, ZONE, at('2026-03-16T12:00:00Z'), at('2026-03-16T12:02:00Z'));
    expect(got.get('gateway')?.get(at('2026-03-16T12:00:00Z'))).toEqual({
      minute: at('2026-03-16T12:00:00Z'),
      service: 'gateway',
      probes: 2,
      ok: 1,
      down: 0,
      worst: 'unhealthy',
      maxLatencyMs: 40,
    });
    expect(got.get('gateway')?.get(at('2026-03-16T12:01:00Z'))).toMatchObject({ probes: 1, ok: 1 });
    expect(got.get('docs')?.get(at('2026-03-16T12:00:00Z'))).toMatchObject({ worst: 'degraded', ok: 1 });
    expect(readdirSync(probeDir(h))).toEqual(['2026-03-16.jsonl']);
  });

  it('a service without an answering process is down in the minute; lines of a minute from two flushes merge', () => {
    const h = home();
    const { r, clock } = recorder(h);
    clock.set(at('2026-03-16T12:00:10Z'));
    r.onProbe(probe('idea-bank', '2026-03-16T12:00:05Z'));
    r.onStatus([
      { name: 'idea-bank', state: 'backoff' } as never,
      { name: 'docs', state: 'healthy' } as never,
    ]);
    r.flush();
    r.onProbe(probe('idea-bank', '2026-03-16T12:00:30Z'));
    r.flush();
    const minute = readProbeRecords(h, ZONE, at('2026-03-16T12:00:00Z'), at('2026-03-16T12:01:00Z'));
    expect(minute.get('idea-bank')?.get(at('2026-03-16T12:00:00Z'))).toMatchObject({
      probes: 2,
      ok: 2,
      down: 1,
      worst: 'backoff',
    });
    expect(minute.has('docs')).toBe(false); // healthy is judged by the probes, not counted twice
    expect(
      readFileSync(path.join(probeDir(h), '2026-03-16.jsonl'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(2);
  });

  it('knows the first minute this installation recorded (the report does not count the minutes before)', () => {
    const h = home();
    expect(firstRecordedMinute(h)).toBeNull();
    const { r } = recorder(h);
    r.onProbe(probe('docs', '2026-03-16T12:03:30Z'));
    r.onProbe(probe('gateway', '2026-03-16T12:02:10Z'));
    r.flush();
    expect(firstRecordedMinute(h)).toBe(at('2026-03-16T12:02:00Z'));
    rmSync(h, { recursive: true, force: true });
  });

  it('files by local day: 23:59 in São Paulo is the next UTC day but the same file', () => {
    const h = home();
    const { r } = recorder(h);
    r.onProbe(probe('gateway', '2026-03-17T02:59:30Z'));
    r.onProbe(probe('gateway', '2026-03-17T03:00:30Z'));
    r.flush();
    expect(readdirSync(probeDir(h)).sort()).toEqual(['2026-03-16.jsonl', '2026-03-17.jsonl']);
    const both = readProbeRecords(h, ZONE, at('2026-03-17T02:00:00Z'), at('2026-03-17T04:00:00Z'));
    expect(both.get('gateway')?.size).toBe(2);
  });

  it('skips a torn line; removes files past the retention', () => {
    const h = home();
    mkdirSync(probeDir(h), { recursive: true });
    writeFileSync(path.join(probeDir(h), '2025-01-01.jsonl'), '');
    writeFileSync(
      path.join(probeDir(h), '2026-03-16.jsonl'),
      '{"t":"2026-03-16T12:00:00.000Z","s":"gateway","n":1,"ok":1,"down":0,"w":"healthy","ms":1}\n{"t":"2026-03-16T12:01',
    );
    const { r } = recorder(h);
    r.onProbe(probe('gateway', '2026-03-16T12:02:00Z'));
    r.flush();
    expect(existsSync(path.join(probeDir(h), '2025-01-01.jsonl'))).toBe(false);
    const got = readProbeRecords(h, ZONE, at('2026-03-16T12:00:00Z'), at('2026-03-16T12:03:00Z'));
    expect(got.get('gateway')?.has(at('2026-03-16T12:00:00Z'))).toBe(true);
    expect(got.get('gateway')?.has(at('2026-03-16T12:01:00Z'))).toBe(false);
    // Written on a line of its own after the torn one.
    expect(got.get('gateway')?.get(at('2026-03-16T12:02:00Z'))).toMatchObject({ probes: 1 });
  });

  it('a write that fails is logged once and kept for the next flush; the recorder never throws', () => {
    const h = home();
    // A file where the folder should be: refused as a full disk would be, even for root.
    writeFileSync(path.join(h, 'slo'), 'not a folder');
    const { r, lines } = recorder(h);
    r.onProbe(probe('gateway', '2026-03-16T12:00:01Z'));
    expect(() => r.flush()).not.toThrow();
    r.onProbe(probe('gateway', '2026-03-16T12:00:06Z'));
    expect(() => r.flush()).not.toThrow();
    expect(lines.filter((l) => l.event === 'slo.record_write_failed')).toHaveLength(1);
    rmSync(path.join(h, 'slo'));
    r.flush();
    expect(lines.some((l) => l.event === 'slo.record_written')).toBe(true);
    const got = readProbeRecords(h, ZONE, at('2026-03-16T12:00:00Z'), at('2026-03-16T12:01:00Z'));
    expect(got.get('gateway')?.get(at('2026-03-16T12:00:00Z'))).toMatchObject({ probes: 2, ok: 2 });
  });
});
