import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configEnv, freePort, type JsonBody, ROOT, runCli, tempHome, waitFor } from './helpers/cli.js';

const SERVICES = ['data-capture', 'order-manager', 'stream', 'gateway', 'idea-bank', 'docs'];
const MINUTE_MS = 60_000;
const home = tempHome('ts-slo-');
let env: NodeJS.ProcessEnv = {};
let started = false;

afterAll(async () => {
  if (started) await runCli(['stop'], env, 90_000);
}, 100_000);

const json = (text: string): JsonBody => JSON.parse(text);
const status = async () => json((await runCli(['status', '--json'], env)).stdout);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SLO measured by the system, and its logs', () => {
  it('a service killed with -9 loses availability in market hours; the others stay at 100%; CLI and API agree', async () => {
    const ports = Object.fromEntries(
      await Promise.all(SERVICES.map(async (s) => [s, await freePort()] as const)),
    );
    env = configEnv(home, {
      services: {
        ...Object.fromEntries(SERVICES.map((s) => [s, { port: ports[s] }])),
        docs: { port: ports.docs, dir: path.join(ROOT, 'docs') },
      },
      supervisor: { healthIntervalMs: 200, backoffInitialMs: 300, backoffMaxMs: 1_000 },
      // Test-only market hours: every minute of every day, so "in market hours" holds whenever this runs.
      slo: {
        marketOpen: '00:00',
        marketClose: '24:00',
        tradingDays: [0, 1, 2, 3, 4, 5, 6],
        b3Holidays: false,
        flushIntervalMs: 500,
      },
    });
    const up = await runCli(['start', '--detach'], env, 120_000);
    started = true;
    expect(up.code, up.stdout + up.stderr).toBe(0);

    // Start from the first whole minute after the start sequence: its own minute saw services starting.
    const from = Math.ceil((Date.now() + 1) / MINUTE_MS) * MINUTE_MS;
    await sleep(from - Date.now() + 1_500);
    const before = (await status()).processes.find((p: JsonBody) => p.name === 'idea-bank');
    process.kill(before.pid, 'SIGKILL');
    await waitFor(
      'idea-bank restarted',
      async () => {
        const p = (await status()).processes.find((x: JsonBody) => x.name === 'idea-bank');
        return p.pid !== before.pid && p.state === 'healthy' && p.restarts >= 1;
      },
      30_000,
      200,
    );
    await sleep(1_500); // a few flushes
    const to = new Date(Date.now() - 500).toISOString();
    const window = ['--from', new Date(from).toISOString(), '--to', to];

    const cli = await runCli(['slo', ...window, '--json'], env);
    expect(cli.code, cli.stderr).toBe(0);
    const report = json(cli.stdout);
    const byService = Object.fromEntries(report.availability.map((a: JsonBody) => [a.service, a]));
    expect(Object.keys(byService).sort()).toEqual([...SERVICES].sort());
    expect(byService['idea-bank'].down).toBeGreaterThanOrEqual(1);
    expect(byService['idea-bank'].availability).toBeLessThan(1);
    for (const s of SERVICES.filter((x) => x !== 'idea-bank')) {
      expect(byService[s], s).toMatchObject({ availability: 1, down: 0, unknown: 0, verdict: 'pass' });
      expect(byService[s].minutes, s).toBeGreaterThanOrEqual(1);
    }
    expect(report.dataLoss.verdict).not.toBe(undefined);
    expect(report.errors).toEqual([]);
    expect(report.orderSuccess).toMatchObject({ sent: 0, verdict: 'no-data' });

    const text = await runCli(['slo', ...window], env);
    expect(text.stdout).toMatch(/idea-bank\s+99\.5%\s+\d/);

    // The same figures through the gateway, with a viewer key.
    const key = (
      await runCli(['keys', 'create', '--role', 'viewer', '--name', 'slo-test'], env)
    ).stdout.trim();
    const base = `http://127.0.0.1:${ports.gateway}/api/v1/slo`;
    const query = `from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(to)}`;
    const api = await waitFor('the key to work', async () => {
      const res = await fetch(`${base}?${query}`, { headers: { 'x-api-key': key } });
      return res.status === 200 ? ((await res.json()) as JsonBody) : null;
    });
    const pick = (r: JsonBody) =>
      r.availability.map((a: JsonBody) => [a.service, a.minutes, a.up, a.down, a.unknown]);
    expect(pick(api)).toEqual(pick(report));
    expect(api.window).toEqual(report.window);

    const bad = await fetch(`${base}?from=yesterday`, { headers: { 'x-api-key': key } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as JsonBody).error.details.field).toBe('from');
    expect((await fetch(base)).status).toBe(401);
  }, 200_000);

  it('logs --service data-capture --level info --since 10m --json: that service only, in time order', async () => {
    const r = await runCli(
      ['logs', '--service', 'data-capture', '--level', 'info', '--since', '10m', '--json'],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const records = r.stdout.trim().split('\n').map(json);
    expect(records.length).toBeGreaterThan(3);
    expect(new Set(records.map((x: JsonBody) => x.service))).toEqual(new Set(['data-capture']));
    const times = records.map((x: JsonBody) => Date.parse(x.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(records.every((x: JsonBody) => ['info', 'warn', 'error', 'fatal'].includes(x.level))).toBe(true);

    // Every service merged: the supervisor's crash line and idea-bank's restart, in time order.
    const all = await runCli(['logs', '--since', '10m', '--level', 'warn'], env);
    expect(all.stdout).toMatch(/WARN\s+supervisor\s+supervisor\.crashed/);
    const bad = await runCli(['logs', '--level', 'loud'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--level must be one of[\s\S]*usage: tradingsystem logs/);
    expect(readFileSync(path.join(home, 'slo', 'probes', `${report0Date()}.jsonl`), 'utf8')).toMatch(
      /"s":"idea-bank"/,
    );
  }, 60_000);
});

/** Today in São Paulo, the probe file's name. */
function report0Date(): string {
  return new Date().toLocaleDateString('sv-SE', { timeZone: 'America/Sao_Paulo' });
}
