import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { loadConfig } from '../src/config.js';
import { marketHoursOf } from '../src/domain/slo-report.js';
import { Registry } from '../src/kernel/metrics.js';
import { createSupervisorMetrics } from '../src/ops/supervisor/metrics.js';
import { createOrderManagerMetrics } from '../src/services/order-manager/metrics.js';
import { freePort, type JsonBody, ROOT, tempHome, waitFor } from './helpers/cli.js';

/**
 * The alert path end to end with the real programs: Prometheus (the real prometheus.yml with its
 * hosts pointed here, the real rules) scrapes two targets that serve the real metric modules'
 * output, its alerts go to a real Alertmanager (the real alertmanager.yml with the receivers'
 * URLs pointed at a local HTTP receiver), and the receiver must get a PagerDuty Events v2 trigger
 * for a critical alert (KillSwitchOn) and a Slack message for a warning one (BackupFailed). Both
 * alerts have no `for`, so nothing is shortened but the intervals and Alertmanager's group_wait.
 */

const PROMETHEUS = '/usr/bin/prometheus';
const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const DELIVERY_TIMEOUT_MS = 60_000;

interface Received {
  path: string;
  body: JsonBody;
}

let dir: string;
let amPort: number;
const servers: Server[] = [];
const children: { name: string; child: ChildProcess; output: () => string }[] = [];
const received: Received[] = [];

function listen(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/** A scrape target serving one registry on /metrics. */
const serveRegistry = (registry: Registry) =>
  listen((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    void registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });

function start(name: string, cmd: string, args: string[]): void {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Buffer) => {
    out = (out + c.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  children.push({ name, child, output: () => out });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

const diagnostics = () =>
  children.map((c) => `--- ${c.name}\n${c.output().slice(-3_000)}`).join('\n') +
  `\n--- received\n${JSON.stringify(received, null, 2).slice(0, 3_000)}`;

beforeAll(async () => {
  dir = tempHome('ts-alerting-');

  // The local receiver standing in for PagerDuty's and Slack's endpoints.
  const receiverPort = await listen((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      try {
        received.push({ path: req.url ?? '', body: JSON.parse(body) });
      } catch {
        received.push({ path: req.url ?? '', body });
      }
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
  });

  // order-manager's real metrics with the kill switch on: KillSwitchOn (critical).
  const orderManager = new Registry();
  createOrderManagerMetrics(orderManager, {
    openOrders: () => 0,
    killSwitch: () => true,
    reconciling: () => false,
    tradingState: () => 'ACTIVE',
    positions: () => [],
  });
  const orderManagerPort = await serveRegistry(orderManager);
  // The supervisor's real metrics after a failed daily backup: BackupFailed (warning).
  const supervisor = createSupervisorMetrics({
    supervisor: { status: () => [], on: () => undefined },
    jobs: {
      status: () => [
        {
          name: 'backup',
          at: '02:00',
          running: false,
          nextRunAt: new Date(Date.now() + 86_400_000).toISOString(),
          lastRun: {
            startedAt: new Date(Date.now() - 120_000).toISOString(),
            finishedAt: new Date(Date.now() - 60_000).toISOString(),
            ok: false,
            error: 'backup failed: no space left on device',
            trigger: 'schedule',
          },
        },
      ],
    },
    home: dir,
    marketHours: marketHoursOf(loadConfig({ env: {}, cwd: dir })),
  });
  const supervisorPort = await serveRegistry(supervisor);

  // Alertmanager: the real config, receivers pointed at the receiver, secrets in files.
  const amConfig = parseYaml(
    readFileSync(path.join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yml'), 'utf8'),
  ) as JsonBody;
  writeFileSync(path.join(dir, 'pagerduty-routing-key'), 'test-routing-key\n');
  writeFileSync(path.join(dir, 'slack-webhook-url'), `http://127.0.0.1:${receiverPort}/slack\n`);
  for (const r of amConfig.receivers) {
    for (const pd of r.pagerduty_configs ?? []) {
      pd.routing_key_file = path.join(dir, 'pagerduty-routing-key');
      pd.url = `http://127.0.0.1:${receiverPort}/pagerduty`;
    }
    for (const slack of r.slack_configs ?? []) slack.api_url_file = path.join(dir, 'slack-webhook-url');
  }
  amConfig.route.group_wait = '1s';
  writeFileSync(path.join(dir, 'alertmanager.yml'), stringify(amConfig));
  amPort = await freePort();
  start('alertmanager', ALERTMANAGER, [
    `--config.file=${path.join(dir, 'alertmanager.yml')}`,
    `--storage.path=${path.join(dir, 'alertmanager')}`,
    `--web.listen-address=127.0.0.1:${amPort}`,
    '--cluster.listen-address=',
  ]);

  // Prometheus: the real config and rules; only the targets (file_sd) and the intervals differ.
  const targets = path.join(dir, 'targets');
  mkdirSync(targets);
  writeFileSync(
    path.join(targets, 'services.yml'),
    stringify([{ targets: [`127.0.0.1:${orderManagerPort}`], labels: { service: 'order-manager' } }]),
  );
  writeFileSync(
    path.join(targets, 'supervisor.yml'),
    stringify([{ targets: [`127.0.0.1:${supervisorPort}`], labels: { service: 'supervisor' } }]),
  );
  writeFileSync(path.join(targets, 'alertmanager.yml'), stringify([{ targets: [`127.0.0.1:${amPort}`] }]));
  const promDir = path.join(ROOT, 'deploy', 'prometheus');
  const prom = parseYaml(readFileSync(path.join(promDir, 'prometheus.yml'), 'utf8')) as JsonBody;
  Object.assign(prom.global, { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' });
  prom.rule_files = (prom.rule_files as string[]).map((f) => path.join(promDir, f));
  const moved = (sd: { files: string[] }) => {
    sd.files = sd.files.map((f) => path.join(dir, f));
  };
  for (const am of prom.alerting.alertmanagers) am.file_sd_configs.forEach(moved);
  for (const job of prom.scrape_configs) job.file_sd_configs.forEach(moved);
  writeFileSync(path.join(dir, 'prometheus.yml'), stringify(prom));
  const promPort = await freePort();
  start('prometheus', PROMETHEUS, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'prometheus')}`,
    '--storage.tsdb.retention.time=1d',
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
}, 30_000);

afterAll(async () => {
  await Promise.all(children.map((c) => stop(c.child)));
  for (const s of servers) s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 20_000);

describe('alert delivery through a real Prometheus and Alertmanager', () => {
  it(
    'a critical alert reaches PagerDuty (Events API v2) and a warning one reaches Slack',
    async () => {
      const pagerduty = () =>
        received.find(
          (r) => r.path === '/pagerduty' && String(r.body?.payload?.summary).includes('KillSwitchOn'),
        );
      const slack = () =>
        received.find((r) => r.path === '/slack' && JSON.stringify(r.body).includes('BackupFailed'));
      try {
        await waitFor('both notifications', () => pagerduty() && slack(), DELIVERY_TIMEOUT_MS, 250);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${diagnostics()}`);
      }

      const pd = pagerduty()?.body;
      expect(pd).toMatchObject({
        routing_key: 'test-routing-key',
        event_action: 'trigger',
        client: 'TradingSystem Alertmanager',
        payload: { severity: 'critical' },
      });
      expect(typeof pd.dedup_key).toBe('string');
      expect(pd.payload.summary).toContain('[order-manager]');
      expect(pd.payload.summary).toContain('Kill switch is on');
      expect(pd.payload.source).toBeTruthy();
      expect(pd.payload.custom_details.runbook).toBe(
        'http://127.0.0.1:8000/api/v1/docs/runbooks/trading-halted',
      );
      expect(pd.links).toEqual([
        { href: 'http://127.0.0.1:8000/api/v1/docs/runbooks/trading-halted', text: 'Runbook' },
      ]);

      const message = slack()?.body;
      const [attachment] = message.attachments;
      expect(attachment.title).toContain('[FIRING:1]');
      expect(attachment.title).toContain('BackupFailed [supervisor]');
      expect(attachment.title_link).toBe('http://127.0.0.1:8000/api/v1/docs/runbooks/backup-failed');
      expect(attachment.text).toContain('*The last daily backup failed* (warning)');
      expect(attachment.color).toBe('warning');
      expect(message.username).toBe('TradingSystem');

      // Routing by severity: neither alert went to the other receiver.
      expect(
        received.filter((r) => r.path === '/slack' && JSON.stringify(r.body).includes('KillSwitchOn')),
      ).toEqual([]);
      expect(
        received.filter((r) => r.path === '/pagerduty' && JSON.stringify(r.body).includes('BackupFailed')),
      ).toEqual([]);
    },
    DELIVERY_TIMEOUT_MS + 10_000,
  );

  it('inhibits: ServiceDown silences the same service’s other alerts, critical silences its own warning', async () => {
    // Posted to Alertmanager's API as Prometheus would, so the `for` of these rules need not pass.
    const alert = (alertname: string, service: string, severity: string) => ({
      labels: { alertname, service, severity },
      annotations: {
        summary: `${alertname} ${severity}`,
        runbook_url: 'http://127.0.0.1:8000/api/v1/docs/runbooks/x',
      },
      startsAt: new Date().toISOString(),
    });
    const post = await fetch(`http://127.0.0.1:${amPort}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        alert('ServiceDown', 'stream', 'critical'),
        alert('HighHttpErrorRate', 'stream', 'warning'),
        alert('TickToOrderLatencyHigh', 'order-manager', 'critical'),
        alert('TickToOrderLatencyHigh', 'order-manager', 'warning'),
      ]),
    });
    expect(post.status).toBe(200);
    const sent = (name: string) => received.filter((r) => JSON.stringify(r.body).includes(name));
    await waitFor(
      'the uninhibited alerts',
      () => sent('ServiceDown').length && sent('TickToOrderLatencyHigh').length,
      20_000,
      250,
    );

    const states = (await (await fetch(`http://127.0.0.1:${amPort}/api/v2/alerts`)).json()) as JsonBody[];
    const stateOf = (name: string, severity: string) =>
      states.find((a) => a.labels.alertname === name && a.labels.severity === severity)?.status;
    expect(stateOf('HighHttpErrorRate', 'warning')).toMatchObject({ state: 'suppressed' });
    expect(stateOf('HighHttpErrorRate', 'warning').inhibitedBy).toHaveLength(1);
    expect(stateOf('TickToOrderLatencyHigh', 'warning')).toMatchObject({ state: 'suppressed' });
    expect(stateOf('ServiceDown', 'critical')).toMatchObject({ state: 'active' });
    expect(stateOf('TickToOrderLatencyHigh', 'critical')).toMatchObject({ state: 'active' });
    // Group wait is 1 s: a suppressed alert would have gone out with the others by now.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(sent('HighHttpErrorRate')).toEqual([]);
    expect(sent('TickToOrderLatencyHigh').map((r) => r.path)).toEqual(['/pagerduty']);
  }, 30_000);
});
