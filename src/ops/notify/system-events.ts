import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../kernel/config.js';
import { type DiskState, diskState } from '../../kernel/disk.js';
import type { Logger } from '../../kernel/logger.js';
import type { DailyJob } from '../schedule.js';
import type { ProbeResult, ProcessStatus } from '../supervisor/supervisor.js';
import { channelsFrom } from './channels.js';
import { Notifier, type NotifierStatus } from './notifier.js';

type Check = NonNullable<ProbeResult['checks']>[string];

/**
 * The supervisor's own critical conditions, derived from what it already sees (each probe's
 * `/health` checks, each state change, the backup job's result, the data home's disk) and handed
 * to the Notifier as trigger/resolve. Every observation is passed on; the Notifier deduplicates.
 */
export class SystemEvents {
  private diskTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    readonly notifier: Notifier,
    private readonly opts: {
      home: string;
      config: Pick<Config, 'disk'>;
      diskCheckMs: number;
      logger: Logger;
    },
  ) {}

  /** After each health probe: escalation and kill switch, from the service's own checks. */
  onProbe(p: ProbeResult): void {
    this.guard(() => this.fromProbe(p));
  }

  /** After each state change: a crash-looping service (`failed`) until it is up again. */
  onChange(rows: ProcessStatus[]): void {
    this.guard(() => this.fromStates(rows));
  }

  /** The supervisor calls these from its own events: nothing here may throw into it. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.logger.error(
        { event: 'notify.error', err: (err as Error).message },
        'system event not derived',
      );
    }
  }

  private fromProbe(p: ProbeResult): void {
    const checks = p.checks;
    // No answer says nothing about these conditions: the crash loop and liveness cover that.
    if (!checks) return;
    const broker = checks.broker;
    if (broker && typeof broker.escalated === 'boolean') {
      const key = `broker-escalation:${p.service}`;
      if (broker.escalated)
        this.notifier.trigger({
          key,
          kind: 'broker-escalation',
          severity: 'critical',
          service: p.service,
          summary: `${p.service}: broker connection impaired beyond the escalation limit (${text(broker.detail) ?? text(broker.state) ?? 'no detail'}); manual intervention needed`,
          details: pick(broker, ['state', 'detail', 'reconnectAttempts', 'reconnectsTotal']),
        });
      else this.notifier.resolve(key, `${p.service}: broker connection no longer escalated`);
    }
    const risk = checks.risk;
    if (risk) {
      const key = `kill-switch:${p.service}`;
      if (killSwitchOn(risk))
        this.notifier.trigger({
          key,
          kind: 'kill-switch',
          severity: 'critical',
          service: p.service,
          summary: `${p.service}: ${text(risk.detail) ?? 'kill switch active'}; no new orders`,
          details: pick(risk, ['detail', 'killSwitchReason', 'tradingState']),
        });
      else this.notifier.resolve(key, `${p.service}: kill switch reset`);
    }
  }

  private fromStates(rows: ProcessStatus[]): void {
    for (const r of rows) {
      const key = `crash-loop:${r.name}`;
      if (r.state === 'failed')
        this.notifier.trigger({
          key,
          kind: 'crash-loop',
          severity: 'critical',
          service: r.name,
          summary: `${r.name}: crash loop${r.detail ? ` (${r.detail})` : ''}`,
          details: { detail: r.detail, lastExit: r.lastExit, restarts: r.restarts },
        });
      else if (r.state === 'healthy' || r.state === 'degraded')
        this.notifier.resolve(key, `${r.name}: up again after a crash loop`);
    }
  }

  /** The daily backup job, reporting its outcome: a failure triggers, the next success resolves. */
  watchBackup(job: DailyJob): DailyJob {
    const key = 'backup-failed:daily';
    return {
      ...job,
      run: async () => {
        try {
          const result = await job.run();
          this.notifier.resolve(key, 'daily backup taken and verified again');
          return result;
        } catch (err) {
          this.notifier.trigger({
            key,
            kind: 'backup-failed',
            severity: 'critical',
            summary: `daily backup failed: ${(err as Error).message}`.slice(0, 500),
            details: { home: this.opts.home, error: (err as Error).message.slice(0, 2_000) },
          });
          throw err;
        }
      },
    };
  }

  /** Reads the data home's free space now and then (critical, warning, cleared). */
  start(): void {
    if (this.diskTimer || this.stopped) return;
    const check = () => {
      diskState(this.opts.home, this.opts.config).then(
        (d) => this.onDisk(d),
        () => {},
      );
    };
    this.diskTimer = setInterval(check, this.opts.diskCheckMs);
    this.diskTimer.unref();
    check();
  }

  onDisk(d: DiskState): void {
    const key = 'disk-space:data-home';
    if (d.level === 'unknown' || this.stopped) return;
    if (d.level === 'ok') {
      this.notifier.resolve(key, `disk space back above the warning level: ${d.detail}`);
      return;
    }
    this.notifier.trigger({
      key,
      kind: 'disk-space',
      severity: d.level === 'critical' ? 'critical' : 'warning',
      summary: `data home disk ${d.level === 'critical' ? 'critically low' : 'low'}: ${d.detail}`,
      details: pick(d as unknown as Record<string, unknown>, [
        'path',
        'freeBytes',
        'totalBytes',
        'freePercent',
        'warnPercent',
        'criticalPercent',
      ]),
    });
  }

  status(): NotifierStatus {
    return this.notifier.status();
  }

  async stop(graceMs?: number): Promise<void> {
    this.stopped = true;
    if (this.diskTimer) clearInterval(this.diskTimer);
    this.diskTimer = null;
    await this.notifier.stop(graceMs);
  }
}

/** The system events of `config.notify`, or null when no channel is configured (nothing to send). */
export function systemEventsFrom(config: Config, logger: Logger, env = process.env): SystemEvents | null {
  const n = config.notify;
  const channels = channelsFrom(n, env);
  if (channels.length === 0) return null;
  const notifier = new Notifier({
    channels,
    logger,
    events: n.events,
    minSeverity: n.minSeverity,
    repeatAfterMs: Math.round(n.repeatAfterMinutes * 60_000),
    maxAttempts: n.maxAttempts,
    retryInitialMs: n.retryInitialMs,
    retryMaxMs: n.retryMaxMs,
    timeoutMs: n.timeoutMs,
    queueSize: n.queueSize,
    source: n.source || os.hostname(),
    stateFile: path.join(config.home, 'run', 'notify-active.json'),
  });
  logger.info(
    {
      event: 'notify.ready',
      channels: channels.map((c) => c.name),
      events: n.events,
      minSeverity: n.minSeverity,
    },
    'notifications configured',
  );
  // Say now, not at the first incident, when a channel cannot find its secret.
  for (const c of channels) {
    try {
      c.request({
        id: 'check',
        action: 'trigger',
        at: Date.now(),
        repeat: false,
        source: '',
        event: { key: 'check', kind: 'check', severity: 'critical', summary: 'check' },
      });
    } catch (err) {
      logger.error(
        { event: 'notify.channel_unusable', channel: c.name, err: (err as Error).message },
        `notification channel ${c.name} cannot send`,
      );
    }
  }
  return new SystemEvents(notifier, {
    home: config.home,
    config,
    diskCheckMs: n.diskCheckMs,
    logger,
  });
}

function killSwitchOn(risk: Check): boolean {
  if (typeof risk.killSwitch === 'boolean') return risk.killSwitch;
  return typeof risk.detail === 'string' && risk.detail.startsWith('kill switch active');
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
