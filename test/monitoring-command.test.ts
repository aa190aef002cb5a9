import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configEnv, freePort, isAlive, type JsonBody, runCli, tempHome, waitFor } from './helpers/cli.js';

/**
 * `tradingsystem monitoring up|down|status` with the real programs (Debian's /usr/bin/prometheus
 * and /usr/bin/prometheus-alertmanager, found on PATH) beside a running system on free ports: the
 * scrape targets must be the config's, not deploy/'s defaults.
 */

let home = '';
let env: NodeJS.ProcessEnv = {};
const ports: Record<string, number> = {};

const pidOf = (name: string) =>
  Number(readFileSync(path.join(home, 'monitoring', name, `${name}.pid`), 'utf8').trim());

beforeAll(async () => {
  home = tempHome('ts-monitoring-');
  for (const name of ['dc', 'om', 'supervisor', 'prometheus', 'alertmanager']) ports[name] = await freePort();
  env = configEnv(home, {
    services: {
      'data-capture': { port: ports.dc },
      'order-manager': { port: ports.om },
      stream: { enabled: false },
      gateway: { enabled: false },
      'idea-bank': { enabled: false },
      docs: { enabled: false },
    },
    supervisor: { metricsPort: ports.supervisor },
    monitoring: { prometheusPort: ports.prometheus, alertmanagerPort: ports.alertmanager },
    disk: { warnFreePercent: 0, criticalFreePercent: 0 },
  });
  const started = await runCli(['start', '--detach'], env, 90_000);
  expect(started.code, started.stdout + started.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  if (!home) return;
  await runCli(['monitoring', 'down'], env);
  await runCli(['stop'], env, 90_000);
  // Should `down` have failed, nothing this test started may outlive it.
  for (const name of ['prometheus', 'alertmanager']) {
    try {
      const pid = pidOf(name);
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // No pid file: not running.
    }
  }
  rmSync(home, { recursive: true, force: true });
}, 120_000);

describe('tradingsystem monitoring', () => {
  it('up starts both, healthy, and Prometheus scrapes the system where the config puts it', async () => {
    const up = await runCli(['monitoring', 'up'], env, 90_000);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/prometheus +started \(pid \d+\)/);
    expect(up.stdout).toMatch(/alertmanager +started \(pid \d+\)/);
    for (const port of [ports.prometheus, ports.alertmanager])
      expect((await fetch(`http://127.0.0.1:${port}/-/healthy`)).status).toBe(200);

    // The flags: data under the home, 15 days, loopback.
    const flags = (await (
      await fetch(`http://127.0.0.1:${ports.prometheus}/api/v1/status/flags`)
    ).json()) as JsonBody;
    expect(flags.data['storage.tsdb.path']).toBe(path.join(home, 'monitoring', 'prometheus', 'data'));
    expect(flags.data['storage.tsdb.retention.time']).toBe('15d');
    expect(flags.data['web.listen-address']).toBe(`127.0.0.1:${ports.prometheus}`);

    // Targets generated from the config: the two enabled services and the supervisor, on their
    // test ports, all scraped successfully (the first scrape comes within the 15 s interval).
    const expected = [
      `127.0.0.1:${ports.dc} data-capture`,
      `127.0.0.1:${ports.om} order-manager`,
      `127.0.0.1:${ports.supervisor} supervisor`,
    ];
    const targets = await waitFor(
      'every target up',
      async () => {
        const res = (await (
          await fetch(`http://127.0.0.1:${ports.prometheus}/api/v1/targets?state=active`)
        ).json()) as JsonBody;
        const active = res.data.activeTargets as JsonBody[];
        return active.length === expected.length && active.every((t) => t.health === 'up') ? active : null;
      },
      40_000,
      500,
    );
    expect(targets.map((t: JsonBody) => `${t.labels.instance} ${t.labels.service}`).sort()).toEqual(
      expected.sort(),
    );
    // Alerts go to this Alertmanager.
    const ams = (await (
      await fetch(`http://127.0.0.1:${ports.prometheus}/api/v1/alertmanagers`)
    ).json()) as JsonBody;
    expect(ams.data.activeAlertmanagers.map((a: JsonBody) => a.url)).toEqual([
      `http://127.0.0.1:${ports.alertmanager}/api/v2/alerts`,
    ]);
    const generated = parseYaml(
      readFileSync(path.join(home, 'monitoring', 'prometheus', 'targets', 'services.yml'), 'utf8'),
    );
    expect(generated).toEqual([
      { targets: [`127.0.0.1:${ports.dc}`], labels: { service: 'data-capture' } },
      { targets: [`127.0.0.1:${ports.om}`], labels: { service: 'order-manager' } },
    ]);

    // Again: nothing new starts.
    const again = await runCli(['monitoring', 'up'], env, 30_000);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`prometheus   already running (pid ${pidOf('prometheus')})`);
  }, 150_000);

  it('status shows each one’s pid, address and health, and the targets', async () => {
    const text = await runCli(['monitoring', 'status'], env);
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(
        `prometheus +${pidOf('prometheus')} +127\\.0\\.0\\.1:${ports.prometheus} +healthy; targets 3/3 up`,
      ),
    );
    expect(text.stdout).toMatch(
      new RegExp(`alertmanager +${pidOf('alertmanager')} +127\\.0\\.0\\.1:${ports.alertmanager} +healthy`),
    );
    const json = await runCli(['monitoring', 'status', '--json'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).components).toEqual([
      {
        name: 'alertmanager',
        pid: pidOf('alertmanager'),
        address: `127.0.0.1:${ports.alertmanager}`,
        healthy: true,
        detail: 'healthy',
      },
      {
        name: 'prometheus',
        pid: pidOf('prometheus'),
        address: `127.0.0.1:${ports.prometheus}`,
        healthy: true,
        detail: 'healthy',
        targets: { up: 3, total: 3 },
      },
    ]);
  });

  it('down stops both; status then says not running (exit 3)', async () => {
    const pids = [pidOf('prometheus'), pidOf('alertmanager')];
    const down = await runCli(['monitoring', 'down'], env, 60_000);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(down.stdout).toContain(`prometheus   stopped (pid ${pids[0]})`);
    expect(down.stdout).toContain(`alertmanager stopped (pid ${pids[1]})`);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    await expect(fetch(`http://127.0.0.1:${ports.prometheus}/-/healthy`)).rejects.toThrow();
    const status = await runCli(['monitoring', 'status'], env);
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/prometheus +- .*not running/);
    // Down again: nothing to do, still fine.
    expect((await runCli(['monitoring', 'down'], env)).code).toBe(0);
  }, 90_000);

  it('without the programs on PATH, says how to install them and starts nothing', async () => {
    const emptyDir = mkdtempSync(path.join(os.tmpdir(), 'ts-nopath-'));
    try {
      const res = await runCli(['monitoring', 'up'], { ...env, PATH: emptyDir });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(
        'not installed (not on PATH): prometheus-alertmanager or alertmanager, and prometheus',
      );
      expect(res.stderr).toContain('apt-get install prometheus prometheus-alertmanager');
      expect((await runCli(['monitoring', 'status'], env)).code).toBe(3);
    } finally {
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });

  it('bad arguments: the reason and the usage, exit 2', async () => {
    for (const [args, reason] of [
      [[], 'missing action: up, down or status'],
      [['restart'], "unknown action 'restart'"],
      [['up', 'now'], "unexpected argument 'now'"],
      [['status', '--verbose'], "Unknown option '--verbose'"],
      [['up', '--json'], '--json goes with status only'],
    ] as [string[], string][]) {
      const res = await runCli(['monitoring', ...args], env);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toContain(reason);
      expect(res.stderr).toContain('usage: tradingsystem monitoring up | down | status [--json]');
    }
  });
});
