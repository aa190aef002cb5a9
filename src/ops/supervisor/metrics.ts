import { createServer, type Server } from 'node:http';
import { type MarketHours, marketSessions } from '../../domain/slo.js';
import type { Logger } from '../../kernel/logger.js';
import {
  Counter,
  collectProcessMetrics,
  Gauge,
  Histogram,
  LATENCY_BUCKETS,
  Registry,
} from '../../kernel/metrics.js';
import { lastGoodBackup } from '../backup/manifest.js';
import type { DailyJobStatus } from '../schedule.js';
import type { ProbeResult, ProcessState, ProcessStatus } from './supervisor.js';

/** Every ProcessState once: the compiler refuses this record when a state is added or removed. */
const STATE_SET: Record<ProcessState, true> = {
  stopped: true,
  starting: true,
  healthy: true,
  degraded: true,
  unhealthy: true,
  backoff: true,
  failed: true,
  stopping: true,
};
const STATES = Object.keys(STATE_SET) as ProcessState[];

/** What the metrics read from the running supervisor: its process table, probes and daily jobs. */
export interface SupervisorSource {
  status(): ProcessStatus[];
  on(event: 'probe', listener: (probe: ProbeResult) => void): unknown;
}

export interface SupervisorMetricsOptions {
  supervisor: SupervisorSource;
  jobs: { status(): DailyJobStatus[] };
  /** The data home: the newest verified backup on disk counts until the backup job reports. */
  home: string;
  /** The market hours of the SLOs (`slo.*` in config), for `tradingsystem_market_open`. */
  marketHours: MarketHours;
  now?: () => number;
}

/**
 * The supervisor's Prometheus metrics, `tradingsystem_supervisor_*` plus `tradingsystem_market_open`
 * and the default process metrics. Everything but the probe histogram is read at scrape time.
 */
export function createSupervisorMetrics(opts: SupervisorMetricsOptions): Registry {
  const { supervisor, jobs } = opts;
  const now = opts.now ?? Date.now;
  const registry = new Registry();
  collectProcessMetrics(registry);
  const registers = [registry];
  const perService = (name: string, help: string, value: (p: ProcessStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['service'] as const,
      registers,
      collect() {
        for (const p of supervisor.status()) this.set({ service: p.name }, value(p));
      },
    });

  perService(
    'tradingsystem_supervisor_service_up',
    '1 while the service answers its health probe healthy or degraded, 0 otherwise',
    (p) => (p.state === 'healthy' || p.state === 'degraded' ? 1 : 0),
  );
  new Gauge({
    name: 'tradingsystem_supervisor_service_state',
    help: 'The service state in the supervisor: 1 for the current state, 0 for the others',
    labelNames: ['service', 'state'] as const,
    registers,
    collect() {
      for (const p of supervisor.status())
        for (const state of STATES) this.set({ service: p.name, state }, p.state === state ? 1 : 0);
    },
  });
  new Counter({
    name: 'tradingsystem_supervisor_service_restarts_total',
    help: 'Restarts of the service by the supervisor after it exited or stopped answering',
    labelNames: ['service'] as const,
    registers,
    collect() {
      // The supervisor keeps the running total; the counter mirrors it.
      this.reset();
      for (const p of supervisor.status()) this.inc({ service: p.name }, p.restarts);
    },
  });
  perService(
    'tradingsystem_supervisor_service_crash_loop',
    '1 while the service is failed because it crashed too often (crash loop), 0 otherwise',
    (p) => (p.state === 'failed' && (p.detail ?? '').startsWith('crash loop') ? 1 : 0),
  );
  perService(
    'tradingsystem_supervisor_service_uptime_seconds',
    'Seconds since the current process of the service started; 0 while none runs',
    (p) => p.uptimeSeconds ?? 0,
  );
  const probeDuration = new Histogram({
    name: 'tradingsystem_supervisor_probe_duration_seconds',
    help: 'Time of one health probe of the service by the supervisor (no answer: until it failed)',
    labelNames: ['service'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  supervisor.on('probe', (p) => probeDuration.observe({ service: p.service }, p.latencyMs / 1000));

  // A supervisor restarted after the last backup still knows it from the disk.
  let onDisk: number | null = null;
  try {
    const newest = lastGoodBackup(opts.home);
    const at = newest ? Date.parse(newest.manifest.finishedAt) : Number.NaN;
    onDisk = Number.isFinite(at) ? at : null;
  } catch {
    onDisk = null;
  }
  const backupRun = () => jobs.status().find((j) => j.name === 'backup')?.lastRun ?? null;
  const epochMs = (iso: string | undefined) => {
    const ms = iso ? Date.parse(iso) : Number.NaN;
    return Number.isFinite(ms) ? ms : null;
  };
  new Gauge({
    name: 'tradingsystem_supervisor_backup_last_success_timestamp_seconds',
    help: 'When the last good backup finished (epoch seconds; 0: none known): the daily job, or the newest verified backup on disk',
    registers,
    collect() {
      const run = backupRun();
      const byJob = run ? epochMs(run.ok ? run.finishedAt : run.lastSuccessAt) : null;
      this.set(Math.max(byJob ?? 0, onDisk ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'tradingsystem_supervisor_backup_last_failure_timestamp_seconds',
    help: 'When the last run of the daily backup job finished, if it failed (epoch seconds; 0: the last run succeeded or none ran)',
    registers,
    collect() {
      const run = backupRun();
      this.set(((run && !run.ok && epochMs(run.finishedAt)) || 0) / 1000);
    },
  });
  // Prometheus has no time zones: the market-hours alerts and SLOs `and` with this gauge.
  new Gauge({
    name: 'tradingsystem_market_open',
    help: '1 during market hours as the SLOs count them (slo.marketOpen-marketClose on trading days), 0 otherwise',
    registers,
    collect() {
      const t = now();
      this.set(marketSessions(opts.marketHours, t, t + 1).length > 0 ? 1 : 0);
    },
  });
  return registry;
}

/**
 * Serves `GET /metrics` and `GET /health` on a plain HTTP listener. It never takes the supervisor
 * down: a port in use or any later server error is logged and the supervisor goes on without it.
 * Resolves with the server, or null when it could not listen.
 */
export function serveSupervisorMetrics(
  registry: Registry,
  address: { host: string; port: number },
  logger: Logger,
): Promise<Server | null> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/health')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (path === '/health') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'ok', service: 'supervisor', pid: process.pid }));
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => {
        logger.error({ event: 'supervisor.metrics_failed', err: err.message }, 'cannot render metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n');
      },
    );
  });
  return new Promise((resolve) => {
    const failed = (err: Error) => {
      logger.error(
        { event: 'supervisor.metrics_listen_failed', ...address, err: err.message },
        `cannot serve supervisor metrics on ${address.host}:${address.port}; going on without them`,
      );
      server.close();
      resolve(null);
    };
    server.once('error', failed);
    server.listen(address.port, address.host, () => {
      server.off('error', failed);
      server.on('error', (err) =>
        logger.error({ event: 'supervisor.metrics_error', err: err.message }, 'metrics listener error'),
      );
      logger.info({ event: 'supervisor.metrics_listening', ...address }, 'supervisor metrics listening');
      resolve(server);
    });
  });
}
