import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { loadConfig } from '../src/config.js';
import { prometheusConfigFor, scrapeTargets, writeTargets } from '../src/ops/monitoring/targets.js';
import {
  configEnv,
  freePort,
  internalHeaders,
  type JsonBody,
  ROOT,
  runCli,
  tempHome,
  waitFor,
} from './helpers/cli.js';

/**
 * The four Grafana dashboards against the real system: it runs on the simulator with the momentum
 * strategy trading, a real Prometheus scrapes every service and the supervisor each second, the
 * test sends API orders and risk rejections meanwhile, and every target of every panel must
 * answer with data through Prometheus's query API. Grafana itself cannot be installed here, so its
 * variables are replaced by the values Grafana would give them.
 */

const PROMETHEUS = '/usr/bin/prometheus';
const GRAFANA = path.join(ROOT, 'deploy', 'grafana');
const DASHBOARDS = path.join(GRAFANA, 'dashboards');
const PANEL_TYPES = ['timeseries', 'stat', 'state-timeline', 'table'];
/** What Grafana puts in for its variables: $service's "All" is its allValue. */
const VARIABLES: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '5m',
  service: '.+',
};
const QUERY_DEADLINE_MS = 90_000;
/** Grafana's own `${…}` syntax, not a template literal. */
const DS_UID = ['$', '{datasource}'].join('');
const DEPLOY_VAR = ['$', '{TRADINGSYSTEM_DEPLOY}'].join('');

interface Target {
  refId: string;
  expr: string;
  datasource?: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Dashboard {
  uid: string;
  title: string;
  tags: string[];
  schemaVersion: number;
  time: { from: string; to: string };
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
  panels: Panel[];
}

const dashboards: [string, Dashboard][] = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f, JSON.parse(readFileSync(path.join(DASHBOARDS, f), 'utf8')) as Dashboard]);
const panelsOf = (d: Dashboard) => d.panels.filter((p) => p.type !== 'row');
const allTargets = dashboards.flatMap(([file, d]) =>
  panelsOf(d).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${file} "${p.title}" ${t.refId}`, t }))),
);

/** An expression as Grafana sends it: `$name` and `${name}` replaced. */
function substitute(expr: string): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string, bare: string) => {
    const value = VARIABLES[braced ?? bare];
    if (value === undefined) throw new Error(`no value for ${whole} in ${expr}`);
    return value;
  });
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset']);
const OPERATORS = new Set(['and', 'or', 'unless', 'inf', 'nan']);
/**
 * The metric names an expression reads: identifiers that are not functions, aggregations, label
 * lists, keywords, label matchers, strings or durations.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[0-9a-z]+/g, ' ');
  // Not inside a number or a duration (`0.95`, `5m`).
  return [...bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)]
    .filter((m) => !m[2] && !KEYWORDS.has(m[1] ?? '') && !OPERATORS.has((m[1] ?? '').toLowerCase()))
    .map((m) => m[1] ?? '');
}

describe('the Grafana dashboards and provisioning files', () => {
  it('are the four dashboards of the ops summary, each real Grafana JSON', () => {
    expect(dashboards.map(([, d]) => d.title).sort()).toEqual([
      'TradingSystem / Broker',
      'TradingSystem / Order Execution',
      'TradingSystem / System Health',
      'TradingSystem / Trading Pipeline',
    ]);
    expect(new Set(dashboards.map(([, d]) => d.uid)).size).toBe(dashboards.length);
    const problems: string[] = [];
    for (const [file, d] of dashboards) {
      if (d.schemaVersion < 36 || d.schemaVersion > 41)
        problems.push(`${file}: schemaVersion ${d.schemaVersion}`);
      if (!/^[a-z0-9-]{1,40}$/.test(d.uid)) problems.push(`${file}: uid ${d.uid}`);
      if (!d.tags.includes('tradingsystem')) problems.push(`${file}: no tradingsystem tag`);
      if (!d.time?.from || !d.time.to) problems.push(`${file}: no time range`);
      const ds = d.templating.list.find((v) => v.type === 'datasource');
      if (ds?.name !== 'datasource' || ds.query !== 'prometheus')
        problems.push(`${file}: no datasource variable`);
      const ids = new Set<number>();
      const cells = new Set<string>();
      for (const p of d.panels) {
        if (ids.has(p.id)) problems.push(`${file}: panel id ${p.id} twice`);
        ids.add(p.id);
        const g = p.gridPos;
        if (!g || g.w < 1 || g.h < 1 || g.x < 0 || g.x + g.w > 24)
          problems.push(`${file} "${p.title}": gridPos`);
        // No two panels share a grid cell.
        for (let y = g.y; y < g.y + g.h; y++)
          for (let x = g.x; x < g.x + g.w; x++) {
            if (cells.has(`${x},${y}`)) problems.push(`${file} "${p.title}": overlaps at ${x},${y}`);
            cells.add(`${x},${y}`);
          }
        if (p.type === 'row') continue;
        if (!PANEL_TYPES.includes(p.type)) problems.push(`${file} "${p.title}": type ${p.type}`);
        if (p.datasource?.uid !== DS_UID) problems.push(`${file} "${p.title}": datasource`);
        if (!p.fieldConfig?.defaults?.unit) problems.push(`${file} "${p.title}": no unit`);
        if (!p.targets?.length) problems.push(`${file} "${p.title}": no target`);
        for (const t of p.targets ?? []) {
          if (!t.expr?.trim()) problems.push(`${file} "${p.title}" ${t.refId}: no expr`);
          if (t.datasource && t.datasource.uid !== DS_UID)
            problems.push(`${file} "${p.title}" ${t.refId}: datasource`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('show what the issue asks for on each dashboard', () => {
    const text = (title: string) => {
      const d = dashboards.find(([, x]) => x.title === `TradingSystem / ${title}`)?.[1];
      return JSON.stringify(
        panelsOf(d as Dashboard).map((p) => [p.type, p.title, p.targets?.map((t) => t.expr)]),
      );
    };
    const expectAll = (title: string, wanted: RegExp[]) =>
      expect(wanted.filter((w) => !w.test(text(title))).map(String), title).toEqual([]);
    expectAll('System Health', [
      /process_cpu_seconds_total/,
      /process_resident_memory_bytes/,
      /tradingsystem_disk_free_ratio/,
      /nodejs_eventloop_lag/,
      /tradingsystem_supervisor_service_restarts_total/,
    ]);
    expectAll('Trading Pipeline', [
      /histogram_quantile\(0\.5, [^"]*tick_to_order/,
      /histogram_quantile\(0\.95, [^"]*tick_to_order/,
      /histogram_quantile\(0\.99, [^"]*tick_to_order/,
      /trades_received_total/,
      /tradingsystem_feed_lag_records/,
    ]);
    expectAll('Broker', [
      /"state-timeline","Connection state"/,
      /callbacks_total/,
      /result=\\"error\\"/,
      /broker_reconnects_total/,
      /tradingsystem_data_capture_gaps/,
    ]);
    expectAll('Order Execution', [
      /orders_submitted_total/,
      /orders_filled_total/,
      /sum by \(code\)[^"]*orders_rejected_total/,
      /position_quantity/,
      /pnl_brl/,
    ]);
    const types = new Set(dashboards.flatMap(([, d]) => panelsOf(d).map((p) => p.type)));
    expect([...types].sort()).toEqual([...PANEL_TYPES].sort());
  });

  it('are provisioned: the Prometheus data source and a file provider for the dashboards folder', () => {
    const ds = parseYaml(
      readFileSync(path.join(GRAFANA, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8'),
    );
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toEqual([
      expect.objectContaining({ type: 'prometheus', access: 'proxy', url: 'http://127.0.0.1:9090' }),
    ]);
    const dash = parseYaml(
      readFileSync(path.join(GRAFANA, 'provisioning', 'dashboards', 'tradingsystem.yml'), 'utf8'),
    );
    expect(dash.apiVersion).toBe(1);
    const [provider] = dash.providers;
    expect(provider).toMatchObject({ type: 'file', folder: 'TradingSystem' });
    // The path is ${TRADINGSYSTEM_DEPLOY}/grafana/dashboards: this folder once the variable is set.
    const resolved = String(provider.options.path).replace(DEPLOY_VAR, path.join(ROOT, 'deploy'));
    expect(resolved).toBe(DASHBOARDS);
    expect(existsSync(resolved)).toBe(true);
  });

  it('name metrics by their real names only (the expression parser this test relies on)', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, service) (rate(a_bucket{x="y",service=~"$s"}[1m]))) / on (service) group_left b > 0 and c unless sum without (z) (d offset 5m) * 2e3',
      ),
    ).toEqual(['a_bucket', 'b', 'c', 'd']);
  });
});

describe('every panel with the real system and a real Prometheus', () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let prometheus: ChildProcess | null = null;
  let promLog = '';
  let promUrl = '';
  let stopActivity = false;
  let activity: Promise<void> = Promise.resolve();
  const endpoints: string[] = [];

  beforeAll(async () => {
    home = tempHome('ts-dashboards-');
    const port = async () => freePort();
    env = configEnv(home, {
      services: {
        'data-capture': { port: await port() },
        'order-manager': { port: await port(), strategies: ['momentum'] },
        stream: { port: await port() },
        gateway: { port: await port() },
        'idea-bank': { port: await port() },
        docs: { port: await port(), dir: path.join(ROOT, 'docs') },
      },
      supervisor: { metricsPort: await port(), healthIntervalMs: 1_000 },
      // The machine's own disk level is not what this test is about.
      disk: { warnFreePercent: 0, criticalFreePercent: 0 },
    });
    const started = await runCli(['start', '--detach'], env, 120_000);
    expect(started.code, started.stdout + started.stderr).toBe(0);
    const config = loadConfig({ env, cwd: home });

    // Prometheus: the real prometheus.yml and rules, targets generated from this config in the
    // file_sd format of deploy/prometheus/targets/, a 1 s scrape, no Alertmanager.
    const targets = scrapeTargets(config);
    for (const g of [...targets.services, ...targets.supervisor])
      endpoints.push(`http://${g.targets[0]}/metrics`);
    const targetsDir = path.join(home, 'prometheus-targets');
    writeTargets(targetsDir, targets);
    const prom = parseYaml(
      prometheusConfigFor(path.join(ROOT, 'deploy', 'prometheus'), targetsDir),
    ) as JsonBody;
    Object.assign(prom.global, { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' });
    delete prom.alerting;
    writeFileSync(path.join(home, 'prometheus.yml'), stringify(prom));
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${path.join(home, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(home, 'prometheus')}`,
        '--storage.tsdb.retention.time=1d',
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (c: Buffer) => {
      promLog = (promLog + c.toString()).slice(-10_000);
    };
    prometheus.stdout?.on('data', keep);
    prometheus.stderr?.on('data', keep);

    // Activity besides the strategy: an API order every 2 s (alternating sides, so no position
    // grows and none is a duplicate) and a risk rejection (RISK_MAX_ORDER_QTY) with each.
    const om = `http://127.0.0.1:${config.services['order-manager'].port}/api/orders`;
    const post = (body: object) =>
      fetch(om, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-actor': 'dashboards-e2e',
          ...internalHeaders(home),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      }).then((r) => r.status);
    activity = (async () => {
      for (let i = 0; !stopActivity && i < 200; i++) {
        await post({ symbol: 'PETR4', side: i % 2 ? 'SELL' : 'BUY', type: 'MARKET', quantity: 100 }).catch(
          () => 0,
        );
        await post({ symbol: 'WINZ26', side: 'BUY', type: 'MARKET', quantity: 50 }).catch(() => 0);
        await new Promise((r) => setTimeout(r, 2_000));
      }
    })();

    await waitFor(
      'Prometheus scraping every service and the supervisor',
      async () => {
        const res = (await (await fetch(`${promUrl}/api/v1/targets?state=active`)).json()) as JsonBody;
        const active = res.data.activeTargets as JsonBody[];
        return active.length === endpoints.length && active.every((t) => t.health === 'up');
      },
      60_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${promLog.slice(-3_000)}`);
    });
  }, 200_000);

  afterAll(async () => {
    stopActivity = true;
    await activity;
    if (env.TRADINGSYSTEM_HOME) await runCli(['stop'], env, 120_000);
    const child = prometheus;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (home) rmSync(home, { recursive: true, force: true });
  }, 150_000);

  it('every metric a panel or variable names is exported by a service or the supervisor', async () => {
    const exported = new Set<string>();
    for (const url of endpoints) {
      const text = await (await fetch(url)).text();
      for (const line of text.split('\n'))
        if (line && !line.startsWith('#')) exported.add(line.replace(/[{ ].*$/, ''));
    }
    expect(exported.size).toBeGreaterThan(100);
    const variableQueries = dashboards.flatMap(([, d]) =>
      d.templating.list.flatMap((v) =>
        v.definition ? [v.definition.replace(/^label_values\((.*),[^,]*\)$/, '$1')] : [],
      ),
    );
    const named = [...allTargets.map(({ t }) => t.expr), ...variableQueries].flatMap(metricNames);
    expect(named.length).toBeGreaterThan(50);
    expect([...new Set(named.filter((n) => !exported.has(n)))]).toEqual([]);
  });

  it(
    'every target of every panel answers with data from Prometheus',
    async () => {
      expect(allTargets.length).toBeGreaterThan(60);
      const pending = new Map(allTargets.map(({ where, t }) => [where, substitute(t.expr)]));
      const last = new Map<string, string>();
      const deadline = Date.now() + QUERY_DEADLINE_MS;
      // Rates and quantiles need a few scrapes of the activity: ask again until each has data.
      while (pending.size && Date.now() < deadline) {
        for (const [where, expr] of pending) {
          const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
          const body = (await res.json()) as JsonBody;
          if (body.status !== 'success') {
            last.set(where, `${body.errorType}: ${body.error}`);
            continue;
          }
          const samples: [number, string][] =
            body.data.resultType === 'scalar'
              ? [body.data.result]
              : (body.data.result as JsonBody[]).map((r) => r.value);
          // NaN (a quantile of no observations, 0/0) is no data either.
          if (samples.some(([, v]) => Number.isFinite(Number(v)))) pending.delete(where);
          else last.set(where, `no data: ${JSON.stringify(body.data.result).slice(0, 200)}`);
        }
        if (pending.size) await new Promise((r) => setTimeout(r, 2_000));
      }
      expect(
        [...pending.keys()].map((where) => `${where}: ${pending.get(where)} → ${last.get(where)}`),
      ).toEqual([]);
    },
    QUERY_DEADLINE_MS + 30_000,
  );
});
