import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { control } from '../src/ops/supervisor/control.js';
import type { ProcessStatus } from '../src/ops/supervisor/supervisor.js';
import {
  type CliResult,
  configEnv,
  freePort,
  internalHeaders,
  type JsonBody,
  ROOT,
  type Running,
  runCli,
  spawnCli,
  tempHome,
  waitFor,
} from './helpers/cli.js';

/**
 * Deploys to a running supervised system (data-capture, order-manager, idea-bank on free ports,
 * a temp data home, a releases folder beside it): a release packed from this checkout, a second
 * good one, one whose order-manager cannot start (rolled back by itself), then `rollback`.
 */

const SERVICES = ['data-capture', 'order-manager', 'idea-bank'] as const;

let home: string;
let releasesDir: string;
let scratch: string;
let env: NodeJS.ProcessEnv;
let ports: Record<(typeof SERVICES)[number], number>;
let supervisor: Running | null = null;
const seeded = { orders: [] as string[], ideas: [] as string[] };

const cli = (...args: string[]): Promise<CliResult> => runCli(args, env, 180_000);
const out = (r: CliResult) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

async function processes(): Promise<ProcessStatus[]> {
  return (await control<{ processes: ProcessStatus[] }>(home, 'GET', '/status')).processes;
}

/** The CLI each service process runs, from its command line in /proc. */
function scriptOf(pid: number): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return argv[1] ?? '';
}

async function health(name: (typeof SERVICES)[number]): Promise<{ status: number; body: JsonBody }> {
  const res = await fetch(`http://127.0.0.1:${ports[name]}/health`, { signal: AbortSignal.timeout(3_000) });
  return { status: res.status, body: (await res.json()) as JsonBody };
}

/** Every service healthy, answering /health itself (its pid), running the CLI of `release`. */
async function expectServing(release: string | null): Promise<Map<string, number>> {
  const procs = await processes();
  const pids = new Map<string, number>();
  const entry = release
    ? path.join(releasesDir, release, 'dist', 'cli.js')
    : path.join(ROOT, 'dist', 'cli.js');
  for (const name of SERVICES) {
    const p = procs.find((x) => x.name === name);
    expect(p?.state, `${name}: ${JSON.stringify(p)}`).toBe('healthy');
    const pid = p?.pid as number;
    expect(scriptOf(pid), name).toBe(entry);
    const h = await health(name);
    expect(h.status, `${name} /health`).toBe(200);
    expect(h.body.pid).toBe(pid);
    pids.set(name, pid);
  }
  return pids;
}

async function post(port: number, route: string, body: object): Promise<{ status: number; body: JsonBody }> {
  const res = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...internalHeaders(home) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as JsonBody };
}

/** What the data home holds that a deploy must not change: the orders and the ideas. */
async function dataSnapshot(): Promise<{ orders: string[]; ideas: string[] }> {
  const orders = (await (
    await fetch(`http://127.0.0.1:${ports['order-manager']}/api/orders?limit=1000`, {
      headers: internalHeaders(home),
    })
  ).json()) as JsonBody;
  const ideas = (await (
    await fetch(`http://127.0.0.1:${ports['idea-bank']}/api/items?limit=100`, {
      headers: internalHeaders(home),
    })
  ).json()) as JsonBody;
  return {
    orders: (orders.data as JsonBody[]).map((o) => `${o.clientOrderId}:${o.status}`).sort(),
    ideas: (ideas.data as JsonBody[]).map((i) => `${i.id}:${i.title}`).sort(),
  };
}

/**
 * An unpacked release of this checkout in a folder, with its node_modules a link to the
 * checkout's (quick to make; a deploy copies the link as it is). `failing` makes its
 * `run order-manager` exit 1 at once while everything else works.
 */
function folderRelease(version: string, failing = false): string {
  const dir = path.join(scratch, version);
  mkdirSync(dir, { recursive: true });
  cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) cpSync(path.join(ROOT, f), path.join(dir, f));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  if (failing) {
    renameSync(path.join(dir, 'dist', 'cli.js'), path.join(dir, 'dist', 'cli-real.js'));
    writeFileSync(
      path.join(dir, 'dist', 'cli.js'),
      [
        "if (process.argv[2] === 'run' && process.argv[3] === 'order-manager') {",
        "  console.error('this release cannot run the order manager');",
        '  process.exit(1);',
        '}',
        "await import('./cli-real.js');",
        '',
      ].join('\n'),
    );
  }
  const manifest = {
    name: 'tradingsystem',
    version,
    packageVersion: '0.1.0',
    commit: null,
    dirty: true,
    builtAt: new Date().toISOString(),
    platform: process.platform,
    arch: process.arch,
    nodeAbi: process.versions.modules,
    node: process.version,
    entries: ['package.json', 'package-lock.json', 'dist', 'node_modules'],
  };
  writeFileSync(path.join(dir, 'release.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

/**
 * Runs a deploy or rollback while watching the supervisor: records, every 50 ms, which services
 * were not up (stopping, stopped, starting, backoff, failed) at the same moment.
 */
async function watched(args: string[]): Promise<{ result: CliResult; ms: number; mostDownAtOnce: number }> {
  let done = false;
  let mostDownAtOnce = 0;
  const watcher = (async () => {
    while (!done) {
      const procs = await processes().catch(() => null);
      if (procs) {
        const down = procs.filter((p) => p.state !== 'healthy' && p.state !== 'degraded').length;
        mostDownAtOnce = Math.max(mostDownAtOnce, down);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const t0 = Date.now();
  const result = await cli(...args);
  const ms = Date.now() - t0;
  done = true;
  await watcher;
  return { result, ms, mostDownAtOnce };
}

async function releasesJson(): Promise<JsonBody> {
  const r = await cli('releases', '--json');
  expect(r.code, out(r)).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  home = tempHome('ts-deploy-home-');
  releasesDir = tempHome('ts-deploy-releases-');
  scratch = tempHome('ts-deploy-scratch-');
  ports = {
    'data-capture': await freePort(),
    'order-manager': await freePort(),
    'idea-bank': await freePort(),
  };
  env = configEnv(home, {
    services: {
      'data-capture': { port: ports['data-capture'] },
      'order-manager': { port: ports['order-manager'] },
      'idea-bank': { port: ports['idea-bank'] },
      stream: { enabled: false, port: await freePort() },
      gateway: { enabled: false, port: await freePort() },
      docs: { enabled: false, port: await freePort() },
    },
    sim: { tradesPerSecond: 50 },
    supervisor: {
      healthIntervalMs: 300,
      backoffInitialMs: 200,
      crashLoopMax: 3,
      stopTimeoutMs: 15_000,
    },
    deploy: { dir: releasesDir, healthTimeoutMs: 30_000, settleMs: 1_500 },
  });
  supervisor = spawnCli(['start'], env);
  await waitFor(
    'the supervised system up',
    async () => (await processes()).every((p) => p.state === 'healthy'),
    60_000,
    250,
  );
  for (let i = 0; i < 4; i++) {
    const o = await post(ports['order-manager'], '/api/orders', {
      symbol: i % 2 ? 'WINZ26' : 'WDOZ26',
      side: Math.floor(i / 2) % 2 ? 'SELL' : 'BUY',
      type: 'MARKET',
      quantity: 1,
      clientOrderId: `deploy-${i}`,
    });
    expect(o.status, JSON.stringify(o.body)).toBe(201);
    seeded.orders.push(o.body.data.clientOrderId);
    const idea = await post(ports['idea-bank'], '/api/items', {
      title: `idea before deploy ${i}`,
      description: 'must survive every deploy',
      category: 'gestao-riscos',
    });
    expect(idea.status, JSON.stringify(idea.body)).toBe(201);
    seeded.ideas.push(idea.body.data.id);
    await new Promise((r) => setTimeout(r, 150)); // past the risk engine's duplicate-order window
  }
}, 90_000);

afterAll(async () => {
  if (supervisor) {
    await runCli(['stop'], env, 60_000);
    await supervisor.exited;
  }
  for (const dir of [home, releasesDir, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
}, 90_000);

describe('deploy, automatic rollback, rollback', () => {
  let dataBefore: { orders: string[]; ideas: string[] };

  it('deploys a packed release of this checkout, then a second one: services move one at a time, data untouched', async () => {
    await expectServing(null);
    dataBefore = await dataSnapshot();
    expect(dataBefore.orders).toHaveLength(seeded.orders.length);
    expect(dataBefore.ideas).toHaveLength(seeded.ideas.length);

    const t0 = Date.now();
    const pack = await cli('release', 'pack', '--out', scratch, '--version', '0.1.0-first');
    const packMs = Date.now() - t0;
    expect(pack.code, out(pack)).toBe(0);
    const tarball = path.join(scratch, `tradingsystem-0.1.0-first-${process.platform}-${process.arch}.tgz`);
    expect(readdirSync(scratch)).toContain(path.basename(tarball));

    const first = await watched(['deploy', tarball]);
    expect(first.result.code, out(first.result)).toBe(0);
    expect(first.mostDownAtOnce, 'services restarted one at a time').toBe(1);
    // In start order, each healthy before the next restarts.
    const steps = first.result.stdout
      .split('\n')
      .map((l) => /(restarting \S+|\S+ healthy) on/.exec(l)?.[1])
      .filter(Boolean);
    expect(steps).toEqual([
      'restarting data-capture',
      'data-capture healthy',
      'restarting order-manager',
      'order-manager healthy',
      'restarting idea-bank',
      'idea-bank healthy',
    ]);
    expect(readlinkSync(path.join(releasesDir, 'current'))).toBe('0.1.0-first');
    const onFirst = await expectServing('0.1.0-first');
    expect(await dataSnapshot()).toEqual(dataBefore);

    const second = await watched(['deploy', folderRelease('0.1.0-second')]);
    expect(second.result.code, out(second.result)).toBe(0);
    expect(second.mostDownAtOnce).toBe(1);
    const onSecond = await expectServing('0.1.0-second');
    for (const name of SERVICES) expect(onSecond.get(name)).not.toBe(onFirst.get(name));
    expect(await dataSnapshot()).toEqual(dataBefore);

    const list = await releasesJson();
    expect(list.current).toBe('0.1.0-second');
    expect(list.releases.map((r: JsonBody) => [r.version, r.status, r.current])).toEqual([
      ['0.1.0-first', 'ok', false],
      ['0.1.0-second', 'ok', true],
    ]);
    const text = await cli('releases');
    expect(text.stdout).toMatch(/\* 0\.1\.0-second/);
    expect(text.stdout).toMatch(/ {2}0\.1\.0-first/);
    console.log(
      `release pack ${packMs} ms; deploy of the tarball ${first.ms} ms; deploy of a folder ${second.ms} ms`,
    );
  }, 150_000);

  it('a release whose order-manager fails health rolls back by itself; the old release serves again', async () => {
    const before = await expectServing('0.1.0-second');
    const bad = await watched(['deploy', folderRelease('0.1.0-broken', true)]);
    expect(bad.result.code, out(bad.result)).toBe(1);
    expect(bad.result.stderr).toMatch(
      /deploy of 0\.1\.0-broken failed and was rolled back to 0\.1\.0-second: order-manager crash-looped/,
    );
    expect(bad.ms).toBeLessThan(30_000 + 30_000);
    expect(readlinkSync(path.join(releasesDir, 'current'))).toBe('0.1.0-second');
    const after = await expectServing('0.1.0-second');
    // data-capture and order-manager went to the broken release and came back; idea-bank was never touched.
    expect(after.get('data-capture')).not.toBe(before.get('data-capture'));
    expect(after.get('order-manager')).not.toBe(before.get('order-manager'));
    expect(after.get('idea-bank')).toBe(before.get('idea-bank'));
    expect(await dataSnapshot()).toEqual(dataBefore);

    const list = await releasesJson();
    expect(list.current).toBe('0.1.0-second');
    const broken = list.releases.find((r: JsonBody) => r.version === '0.1.0-broken');
    expect(broken.status).toBe('failed');
    expect(broken.detail).toContain('order-manager');
    expect(list.history.at(-1)).toMatchObject({
      action: 'auto-rollback',
      from: '0.1.0-broken',
      to: '0.1.0-second',
      result: 'ok',
    });
    console.log(`deploy of a failing release, rolled back: ${bad.ms} ms`);
  }, 120_000);

  it('rollback goes back one release on demand, skipping the failed one', async () => {
    const back = await watched(['rollback']);
    expect(back.result.code, out(back.result)).toBe(0);
    expect(back.mostDownAtOnce).toBe(1);
    expect(readlinkSync(path.join(releasesDir, 'current'))).toBe('0.1.0-first');
    await expectServing('0.1.0-first');
    expect(await dataSnapshot()).toEqual(dataBefore);
    const list = await releasesJson();
    expect(list.history.at(-1)).toMatchObject({
      action: 'rollback',
      from: '0.1.0-second',
      to: '0.1.0-first',
      result: 'ok',
    });
    // Nothing older than the first release: a second rollback has nowhere to go.
    const none = await cli('rollback');
    expect(none.code, out(none)).toBe(1);
    expect(none.stderr).toContain('no earlier release to go back to');
    console.log(`rollback on demand: ${back.ms} ms`);
  }, 120_000);

  it('refuses bad input with exit 2, naming the argument, and changes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['rollback', '--to', '9.9.9'], /--to 9\.9\.9: no such release installed/],
      [['rollback', '--to', '../etc'], /--to '\.\.\/etc' is not a valid release version/],
      [['rollback', '--bogus'], /--bogus/],
      [
        ['deploy', path.join(scratch, 'no-such-release.tgz')],
        /<release\.tgz \| folder> '.*no-such-release\.tgz': no such file or folder/,
      ],
      [['deploy'], /deploy needs one <release\.tgz \| folder>/],
      [
        ['deploy', scratch, '--version', 'not a version'],
        /--version 'not a version' is not a valid release version/,
      ],
      [['deploy', ROOT, '--what'], /--what/],
      [['releases', 'extra'], /extra/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${out(r)}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr, args.join(' ')).toContain('usage: tradingsystem');
    }
    expect(readlinkSync(path.join(releasesDir, 'current'))).toBe('0.1.0-first');
    await expectServing('0.1.0-first');
  }, 60_000);
});
