import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Channel,
  type NotifyEvent,
  pagerDutyChannel,
  SIGNATURE_HEADER,
  signBody,
  slackChannel,
  webhookChannel,
} from './channels.js';
import { Notifier, type NotifierOptions, retryAfterMs } from './notifier.js';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: assertions walk into the parsed JSON
  body: any;
  t: number;
}

type Answer = { status: number; headers?: Record<string, string>; body?: string; holdMs?: number };

/** A real HTTP receiver on 127.0.0.1: records every request; `answer` decides each reply. */
async function receiver(answer: (r: Received, nth: number) => Answer = () => ({ status: 200 })) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString();
    });
    req.on('end', () => {
      const r: Received = {
        path: req.url ?? '',
        headers: req.headers,
        raw,
        body: JSON.parse(raw),
        t: Date.now(),
      };
      got.push(r);
      const a = answer(r, got.filter((g) => g.path === r.path).length);
      setTimeout(() => {
        res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
        res.end(a.body ?? '');
      }, a.holdMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.push(server);
  return { base, got, server };
}

const servers: http.Server[] = [];
const notifiers: Notifier[] = [];
afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.stop(100)));
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'ts-notify-'));

function secretFile(value: string): string {
  const file = path.join(tmp(), 'secret');
  writeFileSync(file, `${value}\n`);
  return file;
}

/** A logger whose every line is kept (as text too, to look for secrets in). */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = pino(
    { level: 'trace' },
    {
      write: (l: string) => {
        raw.push(l);
        lines.push(JSON.parse(l));
      },
    },
  );
  return { logger, lines, text: () => raw.join(''), events: () => lines.map((l) => l.event) };
}

function notifier(channels: Channel[], opts: Partial<NotifierOptions> = {}) {
  const log = capture();
  const n = new Notifier({
    channels,
    logger: log.logger,
    source: 'desk-1',
    retryInitialMs: 10,
    retryMaxMs: 2_000,
    maxAttempts: 3,
    minSeverity: 'warning',
    ...opts,
  });
  notifiers.push(n);
  return { n, log };
}

const killSwitch: NotifyEvent = {
  key: 'kill-switch:order-manager',
  kind: 'kill-switch',
  severity: 'critical',
  summary: 'order-manager: kill switch active: drill',
  service: 'order-manager',
  details: { detail: 'kill switch active: drill' },
};

describe('Notifier', () => {
  it('sends a key once while it stays active, its resolve once when it clears, and again when it comes back', async () => {
    const r = await receiver();
    const { n } = notifier([webhookChannel(`${r.base}/hook`, null)]);
    n.trigger(killSwitch);
    n.trigger(killSwitch);
    n.trigger({ ...killSwitch, summary: 'same condition, newer words' });
    await n.idle();
    expect(r.got.map((g) => g.body.action)).toEqual(['trigger']);
    n.resolve(killSwitch.key);
    n.resolve(killSwitch.key);
    n.resolve('never-triggered');
    await n.idle();
    expect(r.got.map((g) => g.body.action)).toEqual(['trigger', 'resolve']);
    expect(r.got[1]?.body.summary).toBe('resolved: same condition, newer words');
    n.trigger(killSwitch);
    await n.idle();
    expect(r.got.map((g) => g.body.action)).toEqual(['trigger', 'resolve', 'trigger']);
  });

  it('sends again when the severity of an active key changes, and after repeatAfterMs as a reminder', async () => {
    const r = await receiver();
    let now = 1_000_000;
    const { n } = notifier([webhookChannel(`${r.base}/hook`, null)], {
      repeatAfterMs: 60_000,
      now: () => now,
    });
    const disk: NotifyEvent = { key: 'disk', kind: 'disk-space', severity: 'warning', summary: 'low' };
    n.trigger(disk);
    n.trigger({ ...disk, severity: 'critical', summary: 'critical' });
    now += 59_000;
    n.trigger({ ...disk, severity: 'critical', summary: 'critical' });
    await n.idle();
    expect(r.got.map((g) => [g.body.severity, g.body.repeat])).toEqual([
      ['warning', false],
      ['critical', true],
    ]);
    now += 2_000;
    n.trigger({ ...disk, severity: 'critical', summary: 'critical' });
    await n.idle();
    expect(r.got.map((g) => [g.body.severity, g.body.repeat])).toEqual([
      ['warning', false],
      ['critical', true],
      ['critical', true],
    ]);
  });

  it('sends only the enabled kinds at or above the minimum severity, and per channel its own minimum', async () => {
    const r = await receiver();
    const { n } = notifier(
      [webhookChannel(`${r.base}/all`, null), webhookChannel(`${r.base}/critical`, null, 'critical')],
      { events: ['kill-switch', 'disk-space'], minSeverity: 'warning' },
    );
    n.trigger({ ...killSwitch, key: 'x', kind: 'crash-loop' });
    n.trigger({ key: 'd', kind: 'disk-space', severity: 'warning', summary: 'low' });
    n.trigger(killSwitch);
    await n.idle();
    expect(r.got.map((g) => `${g.path} ${g.body.key}`).sort()).toEqual([
      '/all d',
      '/all kill-switch:order-manager',
      '/critical kill-switch:order-manager',
    ]);
    // Critical now: the critical-only channel gets it too; back to warning: resolved there.
    n.trigger({ key: 'd', kind: 'disk-space', severity: 'critical', summary: 'critical' });
    await n.idle();
    n.trigger({ key: 'd', kind: 'disk-space', severity: 'warning', summary: 'low again' });
    await n.idle();
    const critical = r.got.filter((g) => g.path === '/critical' && g.body.key === 'd');
    expect(critical.map((g) => g.body.action)).toEqual(['trigger', 'resolve']);
  });

  it('retries 5xx with exponential backoff and delivers the same notification', async () => {
    const r = await receiver((_, nth) => ({ status: nth <= 2 ? 500 : 202 }));
    const { n, log } = notifier([webhookChannel(`${r.base}/hook`, null)], {
      retryInitialMs: 100,
      maxAttempts: 5,
    });
    n.trigger(killSwitch);
    await n.idle();
    expect(r.got).toHaveLength(3);
    expect(new Set(r.got.map((g) => g.body.id)).size).toBe(1);
    const [a, b, c] = r.got.map((g) => g.t);
    const gaps = [(b ?? 0) - (a ?? 0), (c ?? 0) - (b ?? 0)];
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
    expect(gaps[1]).toBeGreaterThanOrEqual(190);
    expect(log.events().filter((e) => e === 'notify.retry')).toHaveLength(2);
    expect(log.lines.find((l) => l.event === 'notify.sent')).toMatchObject({
      channel: 'webhook',
      attempt: 3,
      status: 202,
    });
    expect(n.status().channels[0]).toMatchObject({ sent: 1, failed: 0 });
  });

  it('waits as long as a 429 Retry-After asks (bounded by retryMaxMs)', async () => {
    const r = await receiver((_, nth) =>
      nth === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 },
    );
    const { n } = notifier([webhookChannel(`${r.base}/hook`, null)], { retryInitialMs: 10 });
    n.trigger(killSwitch);
    await n.idle();
    expect(r.got).toHaveLength(2);
    const [first, second] = r.got.map((g) => g.t);
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(950);

    const slow = await receiver((_, nth) =>
      nth === 1 ? { status: 503, headers: { 'retry-after': '3600' } } : { status: 200 },
    );
    const capped = notifier([webhookChannel(`${slow.base}/hook`, null)], { retryMaxMs: 200 });
    const started = Date.now();
    capped.n.trigger(killSwitch);
    await capped.n.idle();
    expect(slow.got).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2015-10-21T07:27:30Z'))).toBe(30_000);
    expect(retryAfterMs('soon', 0)).toBeNull();
  });

  it('gives up after maxAttempts, and never retries another 4xx', async () => {
    const r = await receiver((g) => ({ status: g.path === '/down' ? 503 : 400, body: 'bad request' }));
    const { n, log } = notifier(
      [webhookChannel(`${r.base}/down`, null), webhookChannel(`${r.base}/bad`, null)],
      { maxAttempts: 3 },
    );
    n.trigger(killSwitch);
    await n.idle();
    expect(r.got.filter((g) => g.path === '/down')).toHaveLength(3);
    expect(r.got.filter((g) => g.path === '/bad')).toHaveLength(1);
    const failed = log.lines.filter((l) => l.event === 'notify.failed');
    expect(failed.map((l) => l.reason).sort()).toEqual([
      'HTTP 400: bad request',
      'gave up after 3 tries: HTTP 503: bad request',
    ]);
    // The key stays active: the next trigger of it is still deduplicated.
    expect(n.isActive(killSwitch.key)).toBe(true);
  });

  it('retries a refused connection and says why it gave up', async () => {
    const r = await receiver();
    const port = (r.server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => r.server.close(() => resolve()));
    const { n, log } = notifier([webhookChannel(`http://127.0.0.1:${port}/hook`, null)], { maxAttempts: 2 });
    n.trigger(killSwitch);
    await n.idle();
    const failed = log.lines.find((l) => l.event === 'notify.failed');
    expect(failed?.reason).toMatch(/^gave up after 2 tries: .*ECONNREFUSED/);
  });

  it('keeps a bounded queue per channel: the oldest waiting is dropped and counted', async () => {
    const r = await receiver((_, nth) => ({ status: 200, holdMs: nth === 1 ? 300 : 0 }));
    const { n, log } = notifier([webhookChannel(`${r.base}/hook`, null)], { queueSize: 2 });
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5'])
      n.trigger({ key: k, kind: 'crash-loop', severity: 'critical', summary: k });
    expect(n.status().channels[0]).toMatchObject({ queued: 2, dropped: 2, sending: true });
    await n.idle();
    expect(r.got.map((g) => g.body.key)).toEqual(['k1', 'k4', 'k5']);
    expect(log.lines.filter((l) => l.event === 'notify.dropped').map((l) => l.key)).toEqual(['k2', 'k3']);
  });

  it('a slow channel does not hold up another', async () => {
    const r = await receiver((g) => ({ status: 200, holdMs: g.path === '/slow' ? 1_500 : 0 }));
    const { n } = notifier([webhookChannel(`${r.base}/slow`, null), webhookChannel(`${r.base}/fast`, null)]);
    const started = Date.now();
    n.trigger(killSwitch);
    for (let i = 0; i < 100 && !r.got.some((g) => g.path === '/fast'); i++)
      await new Promise((res) => setTimeout(res, 20));
    expect(Date.now() - started).toBeLessThan(1_000);
    await n.idle();
  });

  it('speaks PagerDuty Events v2: trigger with payload, resolve by dedup_key', async () => {
    const r = await receiver(() => ({ status: 202, body: '{"status":"success"}' }));
    const key = secretFile('R0UT1NGKEY0000000000000000000042');
    const { n } = notifier([pagerDutyChannel({ file: key }, `${r.base}/v2/enqueue`)]);
    n.trigger(killSwitch);
    n.resolve(killSwitch.key);
    await n.idle();
    const [trigger, resolve] = r.got;
    expect(trigger?.path).toBe('/v2/enqueue');
    expect(trigger?.headers['content-type']).toBe('application/json');
    expect(trigger?.body).toEqual({
      routing_key: 'R0UT1NGKEY0000000000000000000042',
      event_action: 'trigger',
      dedup_key: 'kill-switch:order-manager',
      client: 'TradingSystem supervisor',
      payload: {
        summary: 'order-manager: kill switch active: drill',
        source: 'desk-1',
        severity: 'critical',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        component: 'order-manager',
        group: 'tradingsystem',
        class: 'kill-switch',
        custom_details: { detail: 'kill switch active: drill', key: 'kill-switch:order-manager' },
      },
    });
    expect(resolve?.body).toEqual({
      routing_key: 'R0UT1NGKEY0000000000000000000042',
      event_action: 'resolve',
      dedup_key: 'kill-switch:order-manager',
    });
  });

  it('speaks Slack incoming webhooks: text plus a colored attachment', async () => {
    const r = await receiver();
    const url = secretFile(`${r.base}/services/T000/B000/XXXXSECRETXXXX`);
    const { n } = notifier([slackChannel({ file: url })]);
    n.trigger(killSwitch);
    n.resolve(killSwitch.key);
    await n.idle();
    const [trigger, resolve] = r.got;
    expect(trigger?.path).toBe('/services/T000/B000/XXXXSECRETXXXX');
    expect(trigger?.body.text).toBe(':red_circle: [CRITICAL] order-manager: kill switch active: drill');
    expect(trigger?.body.attachments[0]).toMatchObject({
      color: '#d40e0d',
      title: 'order-manager: kill switch active: drill',
      fields: expect.arrayContaining([
        { title: 'Event', value: 'kill-switch', short: true },
        { title: 'Service', value: 'order-manager', short: true },
      ]),
    });
    expect(resolve?.body.text).toMatch(/^:white_check_mark: \[RESOLVED\] resolved: order-manager/);
    expect(resolve?.body.attachments[0].color).toBe('#2eb886');
  });

  it('posts the event as JSON to a generic webhook, signed with HMAC-SHA256 of the raw body', async () => {
    const r = await receiver();
    const { n } = notifier([webhookChannel(`${r.base}/hook`, { file: secretFile('hmac-s3cret') })]);
    n.trigger(killSwitch);
    await n.idle();
    const [got] = r.got;
    expect(got?.headers[SIGNATURE_HEADER]).toBe(signBody('hmac-s3cret', got?.raw ?? ''));
    expect(got?.headers['x-tradingsystem-event']).toBe('trigger');
    expect(got?.headers['x-tradingsystem-delivery']).toBe(got?.body.id);
    expect(got?.body).toMatchObject({
      action: 'trigger',
      key: 'kill-switch:order-manager',
      kind: 'kill-switch',
      severity: 'critical',
      service: 'order-manager',
      summary: 'order-manager: kill switch active: drill',
      details: { detail: 'kill switch active: drill' },
      source: 'desk-1',
      repeat: false,
    });
  });

  it('never puts a secret in a log line or in status, even when a receiver echoes it', async () => {
    const ROUTING = 'PDKEY-do-not-log-9f8e7d';
    const SLACK = 'SLACKPATH-do-not-log-1a2b3c';
    const HMAC = 'HMAC-do-not-log-4d5e6f';
    const r = await receiver((g) => ({ status: 400, body: `rejected: ${g.raw}` }));
    const gone = await receiver();
    const gonePort = (gone.server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => gone.server.close(() => resolve()));
    const { n, log } = notifier(
      [
        pagerDutyChannel({ file: secretFile(ROUTING) }, `${r.base}/v2/enqueue`),
        slackChannel({ env: 'SLACK_URL_FOR_TEST' }, undefined, {
          SLACK_URL_FOR_TEST: `http://127.0.0.1:${gonePort}/services/${SLACK}`,
        }),
        webhookChannel(`${r.base}/hook`, { env: 'HOOK_SECRET' }, undefined, { HOOK_SECRET: HMAC }),
      ],
      { maxAttempts: 2 },
    );
    n.trigger(killSwitch);
    await n.idle();
    const text = log.text() + JSON.stringify(n.status());
    expect(log.events().filter((e) => e === 'notify.failed')).toHaveLength(3);
    expect(text).toContain('***');
    for (const secret of [ROUTING, SLACK, HMAC]) expect(text).not.toContain(secret);
  });

  it('reports a missing secret as a failure naming where it looked, without trying', async () => {
    const r = await receiver();
    const { n, log } = notifier([pagerDutyChannel({ file: '/nonexistent/pd-key' }, `${r.base}/v2/enqueue`)]);
    n.trigger(killSwitch);
    await n.idle();
    expect(r.got).toHaveLength(0);
    expect(log.lines.find((l) => l.event === 'notify.failed')?.reason).toBe(
      'pagerduty routing key file /nonexistent/pd-key cannot be read (ENOENT)',
    );
  });

  it('remembers active keys across restarts so a condition that cleared meanwhile is resolved', async () => {
    const r = await receiver();
    const stateFile = path.join(tmp(), 'run', 'notify-active.json');
    const first = notifier([webhookChannel(`${r.base}/hook`, null)], { stateFile });
    first.n.trigger(killSwitch);
    await first.n.stop();
    const second = notifier([webhookChannel(`${r.base}/hook`, null)], { stateFile });
    second.n.trigger(killSwitch);
    second.n.resolve(killSwitch.key);
    await second.n.idle();
    expect(r.got.map((g) => g.body.action)).toEqual(['trigger', 'resolve']);
  });

  it('stops within its grace even when a receiver never answers, and trigger never throws', async () => {
    const r = await receiver(() => ({ status: 200, holdMs: 60_000 }));
    const { n, log } = notifier([webhookChannel(`${r.base}/hook`, null)], { timeoutMs: 30_000 });
    n.trigger(killSwitch);
    n.trigger({ ...killSwitch, key: 'other' });
    const started = Date.now();
    await n.stop(200);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(log.lines.find((l) => l.event === 'notify.abandoned')).toMatchObject({ count: 1 });
    expect(() => n.trigger(killSwitch)).not.toThrow();
  });
});
