import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { ConfigError } from '../../kernel/config.js';
import type { DiskState } from '../../kernel/disk.js';
import type { ProbeResult, ProcessStatus } from '../supervisor/supervisor.js';
import { Notifier } from './notifier.js';
import { SystemEvents, systemEventsFrom } from './system-events.js';

const logger = pino({ level: 'silent' });

/** A Notifier with no channel still keeps what is active: that is what these tests look at. */
function events() {
  const notifier = new Notifier({ channels: [], logger, source: 't', minSeverity: 'warning' });
  const sys = new SystemEvents(notifier, {
    home: os.tmpdir(),
    config: { disk: { warnFreePercent: 15, criticalFreePercent: 5, cacheMs: 0 } },
    diskCheckMs: 60_000,
    logger,
  });
  const active = () => notifier.status().active.map((a) => `${a.key} ${a.severity}`);
  return { sys, notifier, active };
}

const probe = (service: string, checks: ProbeResult['checks']): ProbeResult => ({
  service,
  at: Date.now(),
  ok: true,
  httpStatus: 200,
  latencyMs: 1,
  state: 'healthy',
  ...(checks && { checks }),
});

const row = (name: string, state: ProcessStatus['state']): ProcessStatus => ({
  name,
  pid: null,
  host: '127.0.0.1',
  port: 1,
  state,
  restarts: 5,
  uptimeSeconds: null,
  lastExit: 'code 1',
  detail: state === 'failed' ? 'crash loop: 5 crashes in 300 s' : null,
});

const disk = (level: DiskState['level']): DiskState => ({
  level,
  path: '/data',
  freeBytes: 1,
  totalBytes: 100,
  freePercent: 1,
  warnPercent: 15,
  criticalPercent: 5,
  detail: `${level} detail`,
  checkedAt: 0,
});

describe('SystemEvents', () => {
  it("follows data-capture's broker escalation from its health checks, ignoring probes without an answer", () => {
    const { sys, active } = events();
    sys.onProbe(probe('data-capture', { broker: { status: 'degraded', escalated: false } }));
    expect(active()).toEqual([]);
    sys.onProbe(probe('data-capture', { broker: { status: 'down', escalated: true, state: 'Degraded' } }));
    sys.onProbe(probe('data-capture', undefined));
    expect(active()).toEqual(['broker-escalation:data-capture critical']);
    // The order manager's broker check has no escalation: it never clears data-capture's.
    sys.onProbe(probe('order-manager', { broker: { status: 'ok' } }));
    expect(active()).toEqual(['broker-escalation:data-capture critical']);
    sys.onProbe(probe('data-capture', { broker: { status: 'ok', escalated: false } }));
    expect(active()).toEqual([]);
  });

  it("follows the order manager's kill switch, by its flag or its detail", () => {
    const { sys, active } = events();
    sys.onProbe(probe('order-manager', { risk: { status: 'degraded', killSwitch: true, detail: 'x' } }));
    expect(active()).toEqual(['kill-switch:order-manager critical']);
    sys.onProbe(probe('order-manager', { risk: { status: 'ok', killSwitch: false } }));
    expect(active()).toEqual([]);
    sys.onProbe(
      probe('order-manager', { risk: { status: 'degraded', detail: 'kill switch active: drill' } }),
    );
    expect(active()).toEqual(['kill-switch:order-manager critical']);
    sys.onProbe(probe('order-manager', { risk: { status: 'degraded', detail: 'trading HALTED: eod' } }));
    expect(active()).toEqual([]);
  });

  it('a failed (crash-looping) service is active until it is up again; a stop does not clear it', () => {
    const { sys, active } = events();
    sys.onChange([row('stream', 'failed'), row('docs', 'healthy')]);
    expect(active()).toEqual(['crash-loop:stream critical']);
    sys.onChange([row('stream', 'stopped')]);
    expect(active()).toEqual(['crash-loop:stream critical']);
    sys.onChange([row('stream', 'degraded')]);
    expect(active()).toEqual([]);
  });

  it('the disk of the data home: warning, critical, cleared; unknown changes nothing', () => {
    const { sys, active } = events();
    sys.onDisk(disk('warn'));
    expect(active()).toEqual(['disk-space:data-home warning']);
    sys.onDisk(disk('critical'));
    sys.onDisk(disk('unknown'));
    expect(active()).toEqual(['disk-space:data-home critical']);
    sys.onDisk(disk('ok'));
    expect(active()).toEqual([]);
  });

  it('the backup job: a failure triggers (and still fails the job), the next success resolves', async () => {
    const { sys, active } = events();
    let fail = true;
    const job = sys.watchBackup({
      name: 'backup',
      at: '02:00',
      run: async () => {
        if (fail) throw new Error('backup refused: the disk is critically full');
        return { name: '2026-01-01' };
      },
    });
    await expect(job.run()).rejects.toThrow('critically full');
    expect(active()).toEqual(['backup-failed:daily critical']);
    fail = false;
    await expect(job.run()).resolves.toEqual({ name: '2026-01-01' });
    expect(active()).toEqual([]);
  });

  it('nothing configured: no notifier at all', () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'ts-notify-cfg-'));
    expect(systemEventsFrom(loadConfig({ env: {}, cwd }), logger)).toBeNull();
  });
});

describe('notify config', () => {
  const load = (notify: unknown) => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'ts-notify-cfg-'));
    writeFileSync(path.join(cwd, 'tradingsystem.config.json'), JSON.stringify({ notify }));
    return loadConfig({ env: {}, cwd });
  };
  const errorOf = (notify: unknown): ConfigError => {
    try {
      load(notify);
    } catch (err) {
      if (err instanceof ConfigError) return err;
      throw err;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults: no channel, every event kind, critical only, no reminders', () => {
    const c = load(undefined);
    expect(c.notify).toMatchObject({
      channels: {},
      events: ['broker-escalation', 'crash-loop', 'kill-switch', 'backup-failed', 'disk-space'],
      minSeverity: 'critical',
      repeatAfterMinutes: 0,
      maxAttempts: 5,
    });
    const p = load({ channels: { pagerduty: { routingKeyEnv: 'PD_KEY' } } });
    expect(p.notify.channels.pagerduty?.url).toBe('https://events.pagerduty.com/v2/enqueue');
  });

  it('names the field of a bad value', () => {
    expect(errorOf({ events: ['kill-switch', 'coffee'] }).key).toBe('notify.events[1]');
    expect(errorOf({ minSeverity: 'info' }).message).toBe(
      'invalid config: notify.minSeverity must be one of warning, critical',
    );
    expect(errorOf({ channels: { slack: { url: 'https://hooks.slack.com/x' } } }).key).toBe(
      'notify.channels.slack.url',
    );
    expect(errorOf({ channels: { slack: {} } }).key).toBe('notify.channels.slack');
    expect(errorOf({ channels: { pagerduty: { url: 'https://x.example/' } } }).message).toContain(
      'routingKeyFile or routingKeyEnv',
    );
    expect(errorOf({ channels: { webhook: { url: 'ftp://x' } } }).key).toBe('notify.channels.webhook.url');
    expect(errorOf({ repeatAfterMinutes: -1 }).key).toBe('notify.repeatAfterMinutes');
  });

  it('builds the configured channels, and says at start when a secret cannot be found (naming the file only)', () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({}, { write: (l: string) => lines.push(JSON.parse(l)) });
    const c = load({
      channels: {
        slack: { urlFile: '/nonexistent/slack-url' },
        webhook: { url: 'http://127.0.0.1:9/hook' },
      },
    });
    const sys = systemEventsFrom(c, log);
    expect(sys?.status().channels.map((ch) => ch.name)).toEqual(['slack', 'webhook']);
    expect(lines.find((l) => l.event === 'notify.channel_unusable')).toMatchObject({
      channel: 'slack',
      err: 'slack webhook URL file /nonexistent/slack-url cannot be read (ENOENT)',
    });
    void sys?.stop(0);
  });
});
