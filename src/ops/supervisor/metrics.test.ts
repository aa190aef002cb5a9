import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { MarketHours } from '../../domain/slo.js';
import type { Logger } from '../../kernel/logger.js';
import type { DailyJobStatus, JobRecord } from '../schedule.js';
import { createSupervisorMetrics, serveSupervisorMetrics } from './metrics.js';
import type { ProbeResult, ProcessStatus } from './supervisor.js';

const logger = pino({ level: 'silent' }) as unknown as Logger;
/** The defaults of `slo.*`: B3 09:00-18:00 São Paulo, weekdays, B3 holidays closed. */
const B3: MarketHours = {
  timeZone: 'America/Sao_Paulo',
  openMinute: 9 * 60,
  closeMinute: 18 * 60,
  tradingDays: [1, 2, 3, 4, 5],
  b3Holidays: true,
  holidays: [],
};

const row = (name: string, over: Partial<ProcessStatus>): ProcessStatus => ({
  name,
  pid: 100,
  host: '127.0.0.1',
  port: 1,
  state: 'healthy',
  restarts: 0,
  uptimeSeconds: 10,
  lastExit: null,
  detail: null,
  ...over,
});

/** The supervisor's side the metrics read: a process table and 'probe' events. */
class FakeSupervisor extends EventEmitter {
  rows: ProcessStatus[] = [];
  status() {
    return this.rows;
  }
}

const jobsWith = (lastRun: JobRecord | null) => ({
  status: (): DailyJobStatus[] => [
    { name: 'backup', at: '02:00', running: false, nextRunAt: '2026-12-08T05:00:00.000Z', lastRun },
  ],
});

const homes: string[] = [];
const tempHome = () => {
  const home = mkdtempSync(path.join(tmpdir(), 'sup-metrics-'));
  homes.push(home);
  return home;
};
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

/** The value of one sample in Prometheus text, or undefined when the series is absent. */
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('supervisor metrics', () => {
  it('exports state, up, restarts, crash loop, uptime and probe latency per service', async () => {
    const sup = new FakeSupervisor();
    sup.rows = [
      row('data-capture', { state: 'degraded', restarts: 2, uptimeSeconds: 42 }),
      row('docs', {
        state: 'failed',
        pid: null,
        uptimeSeconds: null,
        restarts: 7,
        detail: 'crash loop: 5 crashes in 300 s; trying again in 60 s',
      }),
    ];
    const registry = createSupervisorMetrics({
      supervisor: sup,
      jobs: jobsWith(null),
      home: tempHome(),
      marketHours: B3,
    });
    const probe: ProbeResult = {
      service: 'data-capture',
      at: 0,
      ok: true,
      httpStatus: 200,
      latencyMs: 3,
      state: 'healthy',
    };
    sup.emit('probe', probe);
    const text = await registry.metrics();
    expect(sample(text, 'tradingsystem_supervisor_service_up{service="data-capture"}')).toBe(1);
    expect(sample(text, 'tradingsystem_supervisor_service_up{service="docs"}')).toBe(0);
    expect(
      sample(text, 'tradingsystem_supervisor_service_state{service="data-capture",state="degraded"}'),
    ).toBe(1);
    expect(
      sample(text, 'tradingsystem_supervisor_service_state{service="data-capture",state="healthy"}'),
    ).toBe(0);
    expect(sample(text, 'tradingsystem_supervisor_service_state{service="docs",state="failed"}')).toBe(1);
    expect(sample(text, 'tradingsystem_supervisor_service_restarts_total{service="docs"}')).toBe(7);
    expect(sample(text, 'tradingsystem_supervisor_service_crash_loop{service="docs"}')).toBe(1);
    expect(sample(text, 'tradingsystem_supervisor_service_crash_loop{service="data-capture"}')).toBe(0);
    expect(sample(text, 'tradingsystem_supervisor_service_uptime_seconds{service="data-capture"}')).toBe(42);
    expect(sample(text, 'tradingsystem_supervisor_service_uptime_seconds{service="docs"}')).toBe(0);
    expect(
      sample(text, 'tradingsystem_supervisor_probe_duration_seconds_count{service="data-capture"}'),
    ).toBe(1);
    expect(
      sample(
        text,
        'tradingsystem_supervisor_probe_duration_seconds_bucket{le="0.005",service="data-capture"}',
      ),
    ).toBe(1);
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('says whether the market is open as the SLOs count it (São Paulo time, trading days)', async () => {
    let now = Date.parse('2026-12-07T13:00:00Z'); // Monday 10:00 in São Paulo
    const registry = createSupervisorMetrics({
      supervisor: new FakeSupervisor(),
      jobs: jobsWith(null),
      home: tempHome(),
      marketHours: B3,
      now: () => now,
    });
    expect(sample(await registry.metrics(), 'tradingsystem_market_open')).toBe(1);
    now = Date.parse('2026-12-07T22:00:00Z'); // 19:00
    expect(sample(await registry.metrics(), 'tradingsystem_market_open')).toBe(0);
    now = Date.parse('2026-12-05T13:00:00Z'); // Saturday 10:00
    expect(sample(await registry.metrics(), 'tradingsystem_market_open')).toBe(0);
    now = Date.parse('2026-12-25T13:00:00Z'); // Christmas, a Friday, 10:00
    expect(sample(await registry.metrics(), 'tradingsystem_market_open')).toBe(0);
  });

  it('takes the last backup from the daily job, falling back to the newest verified one on disk', async () => {
    const home = tempHome();
    const dir = path.join(home, 'backups', '2026-12-05');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify({ finishedAt: '2026-12-05T05:10:00.000Z', files: [] }),
    );
    writeFileSync(path.join(dir, 'verification.json'), JSON.stringify({ ok: true, problems: [] }));
    const success = 'tradingsystem_supervisor_backup_last_success_timestamp_seconds';
    const failure = 'tradingsystem_supervisor_backup_last_failure_timestamp_seconds';

    const none = await createSupervisorMetrics({
      supervisor: new FakeSupervisor(),
      jobs: jobsWith(null),
      home,
      marketHours: B3,
    }).metrics();
    expect(sample(none, success)).toBe(Date.parse('2026-12-05T05:10:00.000Z') / 1000);
    expect(sample(none, failure)).toBe(0);

    const failed = await createSupervisorMetrics({
      supervisor: new FakeSupervisor(),
      jobs: jobsWith({
        startedAt: '2026-12-07T05:00:00.000Z',
        finishedAt: '2026-12-07T05:01:00.000Z',
        ok: false,
        error: 'disk full',
        trigger: 'schedule',
        lastSuccessAt: '2026-12-06T05:02:00.000Z',
      }),
      home,
      marketHours: B3,
    }).metrics();
    expect(sample(failed, success)).toBe(Date.parse('2026-12-06T05:02:00.000Z') / 1000);
    expect(sample(failed, failure)).toBe(Date.parse('2026-12-07T05:01:00.000Z') / 1000);

    const empty = await createSupervisorMetrics({
      supervisor: new FakeSupervisor(),
      jobs: jobsWith(null),
      home: tempHome(),
      marketHours: B3,
    }).metrics();
    expect(sample(empty, success)).toBe(0);
  });

  it('serves /metrics and /health, and goes on without them when the port is taken', async () => {
    const registry = createSupervisorMetrics({
      supervisor: new FakeSupervisor(),
      jobs: jobsWith(null),
      home: tempHome(),
      marketHours: B3,
    });
    const server = await serveSupervisorMetrics(registry, { host: '127.0.0.1', port: 0 }, logger);
    if (!server) throw new Error('no listener');
    try {
      const port = (server.address() as { port: number }).port;
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      expect(await metrics.text()).toContain('tradingsystem_market_open');
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(await health.json()).toMatchObject({ status: 'ok', service: 'supervisor' });
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);

      // Someone else holds the port: logged, resolved null, nothing thrown.
      const taken = await serveSupervisorMetrics(registry, { host: '127.0.0.1', port }, logger);
      expect(taken).toBeNull();
    } finally {
      server.close();
    }
  });

  it('goes on without the listener when another program holds the port', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const registry = createSupervisorMetrics({
        supervisor: new FakeSupervisor(),
        jobs: jobsWith(null),
        home: tempHome(),
        marketHours: B3,
      });
      expect(await serveSupervisorMetrics(registry, { host: '127.0.0.1', port }, logger)).toBeNull();
    } finally {
      holder.close();
    }
  });
});
