import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, signBody } from '../src/ops/notify/channels.js';
import {
  configEnv,
  freePort,
  internalHeaders,
  type JsonBody,
  runCli,
  TEST_SERVICE,
  tempHome,
  waitFor,
} from './helpers/cli.js';

// The secrets: none of them may show in a log line or in `status --json`.
const SLACK_PATH = '/services/T0TEST/B0TEST/sl4ck-s3cret-p4th';
const ROUTING_KEY = 'pd-routing-key-0123456789abcdef';
const HMAC_SECRET = 'hm4c-s3cret-for-the-webhook';

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: JsonBody;
  status: number;
}

/**
 * Stands in for Slack, PagerDuty (URL override) and a generic webhook on 127.0.0.1. The webhook
 * answers 500 to its first `failWebhook` requests, to prove the retries.
 */
async function receiver(failWebhook = 0) {
  const hits: Hit[] = [];
  let webhookSeen = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString();
    });
    req.on('end', () => {
      const p = req.url ?? '';
      let status = 200;
      if (p === '/hook') {
        webhookSeen += 1;
        if (webhookSeen <= failWebhook) status = 500;
      } else if (p === '/pd/v2/enqueue') status = 202;
      else if (p !== SLACK_PATH) status = 404;
      let body: JsonBody = null;
      try {
        body = JSON.parse(raw);
      } catch {
        status = 400;
      }
      hits.push({ path: p, headers: req.headers, raw, body, status });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 202 ? '{"status":"success","message":"Event processed"}' : status < 300 ? 'ok' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receivers.push(server);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ok = () => hits.filter((h) => h.status < 300);
  return {
    base,
    hits,
    /** Accepted PagerDuty events for a dedup key, by action. */
    pd: (key: string, action: string) =>
      ok().filter(
        (h) => h.path === '/pd/v2/enqueue' && h.body.dedup_key === key && h.body.event_action === action,
      ),
    /** Accepted Slack messages whose text names the key's summary. */
    slack: (match: string, resolved: boolean) =>
      ok().filter(
        (h) =>
          h.path === SLACK_PATH &&
          h.body.text.includes(match) &&
          h.body.text.includes('[RESOLVED]') === resolved,
      ),
    /** Webhook requests (all tries) for a key and action. */
    hook: (key: string, action: string, all = false) =>
      (all ? hits : ok()).filter((h) => h.path === '/hook' && h.body.key === key && h.body.action === action),
  };
}

const receivers: http.Server[] = [];
const running: NodeJS.ProcessEnv[] = [];

async function stopAll(): Promise<void> {
  for (const env of running.splice(0)) await runCli(['stop'], env);
}
afterEach(stopAll);
afterAll(async () => {
  await stopAll();
  for (const s of receivers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

function secretFiles(dir: string, base: string) {
  mkdirSync(dir, { recursive: true });
  const f = (name: string, value: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    return file;
  };
  return {
    slack: { urlFile: f('slack-url', `${base}${SLACK_PATH}`) },
    pagerduty: { routingKeyFile: f('pd-key', ROUTING_KEY), url: `${base}/pd/v2/enqueue` },
    webhook: { url: `${base}/hook`, secretFile: f('hook-secret', HMAC_SECRET) },
  };
}

const OTHERS_OFF = Object.fromEntries(
  ['stream', 'gateway', 'idea-bank', 'docs'].map((n) => [n, { enabled: false }]),
);
const ALL_OFF = Object.fromEntries(
  ['data-capture', 'order-manager', 'stream', 'gateway', 'idea-bank', 'docs'].map((n) => [
    n,
    { enabled: false },
  ]),
);

function supervisorLog(home: string): string {
  const dir = path.join(home, 'logs', 'supervisor');
  const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date());
  const file = path.join(dir, `${day}.jsonl`);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

const logEvents = (home: string) =>
  supervisorLog(home)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('notifications without Prometheus (the real supervisor, a local receiver)', () => {
  it('kill switch: one PagerDuty trigger, one Slack message, one signed webhook (after two 500s), then one resolve each', async () => {
    const rx = await receiver(2);
    const home = tempHome('ts-notify-');
    const omPort = await freePort();
    const env = configEnv(home, {
      services: {
        ...OTHERS_OFF,
        'data-capture': { port: await freePort() },
        'order-manager': { port: omPort },
      },
      // The machine's own disk must not add events of its own to this test.
      disk: { warnFreePercent: 0, criticalFreePercent: 0 },
      supervisor: { healthIntervalMs: 200, backoffInitialMs: 200, backoffMaxMs: 1_000 },
      notify: {
        channels: secretFiles(path.join(home, 'secrets'), rx.base),
        retryInitialMs: 200,
        source: 'desk-e2e',
      },
    });
    running.push(env);
    const started = await runCli(['start', '--detach'], env, 90_000);
    expect(started.code, started.stdout + started.stderr).toBe(0);

    const om = `http://127.0.0.1:${omPort}`;
    const post = (url: string, body: object) =>
      fetch(`${om}${url}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-actor': 'notify-e2e', ...internalHeaders(home) },
        body: JSON.stringify(body),
      });
    await waitFor('order manager risk check ok', async () => {
      const h = (await (await fetch(`${om}/health`)).json()) as JsonBody;
      return h.checks?.risk?.status === 'ok';
    });
    expect(rx.hits).toEqual([]);

    expect((await post('/api/risk/kill-switch', { reason: 'notify drill' })).status).toBe(200);
    const key = 'kill-switch:order-manager';
    await waitFor(
      'the trigger on all three channels',
      () =>
        rx.pd(key, 'trigger').length &&
        rx.slack('kill switch active', false).length &&
        rx.hook(key, 'trigger').length,
      20_000,
    );
    // Many more probes see the kill switch still on: nothing more is sent.
    await sleep(2_000);
    expect(rx.pd(key, 'trigger')).toHaveLength(1);
    expect(rx.slack('kill switch active', false)).toHaveLength(1);
    expect(rx.hook(key, 'trigger')).toHaveLength(1);
    // The webhook's two 500s were retried with the same notification.
    const tries = rx.hook(key, 'trigger', true);
    expect(tries.map((h) => h.status)).toEqual([500, 500, 200]);
    expect(new Set(tries.map((h) => h.body.id)).size).toBe(1);

    const [pd] = rx.pd(key, 'trigger');
    expect(pd?.body).toMatchObject({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: key,
      payload: {
        summary: expect.stringContaining('kill switch active: notify drill'),
        source: 'desk-e2e',
        severity: 'critical',
        component: 'order-manager',
        class: 'kill-switch',
      },
    });
    const [slack] = rx.slack('kill switch active', false);
    expect(slack?.body.text).toMatch(
      /^:red_circle: \[CRITICAL\] order-manager: kill switch active: notify drill/,
    );
    const [hook] = rx.hook(key, 'trigger');
    expect(hook?.headers[SIGNATURE_HEADER]).toBe(signBody(HMAC_SECRET, hook?.raw ?? ''));
    expect(hook?.body).toMatchObject({ kind: 'kill-switch', severity: 'critical', service: 'order-manager' });

    expect((await post('/api/risk/kill-switch/reset', { reason: 'drill over' })).status).toBe(200);
    await waitFor(
      'the resolve on all three channels',
      () =>
        rx.pd(key, 'resolve').length &&
        rx.slack('kill switch', true).length &&
        rx.hook(key, 'resolve').length,
      20_000,
    );
    await sleep(1_000);
    expect(rx.pd(key, 'resolve')).toHaveLength(1);
    expect(rx.pd(key, 'resolve')[0]?.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: key,
    });
    expect(rx.slack('kill switch', true)).toHaveLength(1);
    expect(rx.hook(key, 'resolve')).toHaveLength(1);
    expect(rx.hits.filter((h) => h.status === 404 || h.status === 400)).toEqual([]);

    // Each send and each retry is logged by channel name; no secret anywhere.
    const status = await runCli(['status', '--json'], env);
    const st = JSON.parse(status.stdout) as JsonBody;
    expect(st.notify.channels.map((c: JsonBody) => [c.name, c.sent])).toEqual([
      ['slack', 2],
      ['pagerduty', 2],
      ['webhook', 2],
    ]);
    const events = logEvents(home);
    expect(
      events
        .filter((e) => e.event === 'notify.sent')
        .map((e) => `${e.channel} ${e.action}`)
        .sort(),
    ).toEqual([
      'pagerduty resolve',
      'pagerduty trigger',
      'slack resolve',
      'slack trigger',
      'webhook resolve',
      'webhook trigger',
    ]);
    expect(events.filter((e) => e.event === 'notify.retry').map((e) => e.channel)).toEqual([
      'webhook',
      'webhook',
    ]);
    const everything = supervisorLog(home) + status.stdout + status.stderr;
    for (const secret of [SLACK_PATH, ROUTING_KEY, HMAC_SECRET]) expect(everything).not.toContain(secret);
  }, 120_000);

  it('crash loop, disk critical and a failed backup: triggered once each; the crash loop resolved when the service is back', async () => {
    const rx = await receiver();
    const home = tempHome('ts-notify-');
    // A backup scheduled since days ago and never taken: the supervisor makes it up at start.
    mkdirSync(path.join(home, 'backups'), { recursive: true });
    writeFileSync(
      path.join(home, 'backups', '.scheduled-since'),
      `${new Date(Date.now() - 3 * 86_400_000).toISOString()}\n`,
    );
    const crashFlag = path.join(tempHome('ts-notify-flag-'), 'crash');
    writeFileSync(crashFlag, '');
    const port = await freePort();
    const env = configEnv(home, {
      services: ALL_OFF,
      // Every disk is "critically full" at 100%: a real disk-space event, and the backup refuses.
      disk: { warnFreePercent: 100, criticalFreePercent: 100, cacheMs: 0 },
      supervisor: {
        healthIntervalMs: 200,
        healthTimeoutMs: 10_000,
        backoffInitialMs: 100,
        backoffMaxMs: 200,
        crashLoopMax: 3,
        crashLoopWindowMs: 60_000,
        failedRetryMs: 1_500,
        extra: [
          {
            name: 'flaky',
            command: [process.execPath, TEST_SERVICE],
            port,
            env: { NAME: 'flaky', PORT: String(port), CRASH_AFTER_MS: '100', CRASH_IF_FILE: crashFlag },
          },
        ],
      },
      notify: {
        channels: secretFiles(path.join(tempHome('ts-notify-secrets-'), 's'), rx.base),
        retryInitialMs: 100,
        diskCheckMs: 500,
      },
    });
    running.push(env);
    // Not every service came up (the crash loop): start says so, and keeps running.
    await runCli(['start', '--detach'], env, 90_000);

    const keys = ['crash-loop:flaky', 'disk-space:data-home', 'backup-failed:daily'];
    await waitFor(
      'a PagerDuty trigger for each',
      () => keys.every((k) => rx.pd(k, 'trigger').length > 0),
      30_000,
    );
    rmSync(crashFlag);
    await waitFor('the crash loop resolved', () => rx.pd('crash-loop:flaky', 'resolve').length > 0, 20_000);
    await waitFor('the webhook resolve too', () => rx.hook('crash-loop:flaky', 'resolve').length > 0, 10_000);
    await sleep(1_500);
    for (const k of keys) {
      expect(rx.pd(k, 'trigger'), k).toHaveLength(1);
      expect(rx.hook(k, 'trigger'), k).toHaveLength(1);
    }
    expect(rx.pd('crash-loop:flaky', 'resolve')).toHaveLength(1);
    expect(rx.pd('disk-space:data-home', 'resolve')).toHaveLength(0);
    expect(rx.pd('crash-loop:flaky', 'trigger')[0]?.body.payload).toMatchObject({
      severity: 'critical',
      component: 'flaky',
      summary: expect.stringContaining('flaky: crash loop'),
    });
    expect(rx.hook('backup-failed:daily', 'trigger')[0]?.body.summary).toContain('backup refused');
    expect(rx.slack('data home disk critically low', false)).toHaveLength(1);
  }, 120_000);
});
