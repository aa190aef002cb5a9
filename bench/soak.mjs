// The soak: the whole supervised system (`tradingsystem start --detach`, a temp data home, free
// ports) on the simulator at 2,000 trades/s per instrument, the momentum strategy trading, stream
// clients on every channel and a dashboard-like REST reader, for N minutes. Each minute it samples
// per process (supervisor and services) RSS, open file descriptors and CPU from /proc, each
// service's /metrics (heap, event-loop lag, the order manager's tick-to-order histogram), and the
// sizes of the market-data journal, the order journal and its WAL and the simulated venue's WAL.
// At the end: growth per hour per process after warm-up (least squares, least squares over
// per-5-minute minima, Theil–Sen), tick-to-order p99 per 5 minutes and its drift, written as
// bench/results/soak-<time>.json (samples + summary) and .png (RSS and p99 over time).
//
//   npm run soak -- --minutes 90
//   node bench/soak.mjs --minutes 20 --env MALLOC_ARENA_MAX=2 --heap-snapshot-at 5,19
//
// The system runs from a private copy of dist/ (other builds during a long soak do not reach it;
// --no-copy uses dist/ itself, --dist another build). It stops the system when done, on Ctrl-C and
// on error, and kills whatever process still runs with its data home in the environment.
//
// --kill-at M,N kill -9s data-capture at those minutes under the full load (its journal hours
// long by then) and records how long it took to be serving again and whether the supervisor had
// to kill it again; growth figures then come from the samples before the first kill.
//
// --heap-snapshot-at M,N writes V8 heap snapshots of the chosen services (SIGUSR2) for
// bench/heap-diff.mjs. Writing one leaves the process tens of MB bigger for good (the allocator
// keeps what the snapshot used): take growth figures from runs without snapshots.
import { execFile, execFileSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { freePort, machine, ROOT } from './lib.mjs';
import { chartHtml, markdownTable, renderPng, summarize } from './soak-report.mjs';

const SERVICES = ['data-capture', 'order-manager', 'stream', 'gateway', 'idea-bank', 'docs'];
const SYMBOLS = ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3'];
const CLK_TCK = 100;

const { values: opts } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    warmup: { type: 'string' },
    'sample-seconds': { type: 'string', default: '60' },
    /** Window whose lowest RSS is one point of the sawtooth-robust fit. */
    'minima-minutes': { type: 'string', default: '5' },
    rate: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '2' },
    'rest-every-seconds': { type: 'string', default: '30' },
    'cooldown-ms': { type: 'string', default: '1000' },
    'log-level': { type: 'string', default: 'info' },
    env: { type: 'string', multiple: true, default: [] },
    'heap-snapshot-at': { type: 'string', default: '' },
    'kill-at': { type: 'string', default: '' },
    'heap-snapshot-services': { type: 'string', default: 'data-capture,order-manager,stream' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
    name: { type: 'string' },
    'keep-home': { type: 'boolean', default: false },
    'no-copy': { type: 'boolean', default: false },
    /** Another build to run (e.g. a patched tree's dist/); copied like dist/. */
    dist: { type: 'string', default: path.join(ROOT, 'dist') },
    /** Let the simulated session start when the system starts (trade numbers from 1), or at the
     * simulator's own session start: then the first start backfills `initialBackfillMinutes` of it. */
    backfill: { type: 'boolean', default: false },
  },
});

const minutes = Number(opts.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be > 0 (got ${opts.minutes})`);
const warmupMin = opts.warmup !== undefined ? Number(opts.warmup) : Math.min(10, Math.floor(minutes / 3));
const sampleMs = Number(opts['sample-seconds']) * 1000;
const rate = Number(opts.rate);
const streamClients = Number(opts.clients);
const restEveryMs = Number(opts['rest-every-seconds']) * 1000;
const killAt = opts['kill-at']
  .split(',')
  .filter(Boolean)
  .map(Number)
  .sort((a, b) => a - b);
const snapshotAt = opts['heap-snapshot-at']
  .split(',')
  .filter(Boolean)
  .map(Number)
  .sort((a, b) => a - b);
const snapshotServices = opts['heap-snapshot-services'].split(',').filter(Boolean);
const extraEnv = Object.fromEntries(
  opts.env.map((kv) => {
    const i = kv.indexOf('=');
    if (i < 1) throw new Error(`--env takes KEY=VALUE (got ${kv})`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  }),
);

const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const runName = opts.name ?? `soak-${stamp}`;
mkdirSync(opts.out, { recursive: true });
const outBase = path.join(opts.out, runName);
const heapDir = `${outBase}-heap`;

const log = (msg) => console.log(`${new Date().toISOString().slice(11, 19)} ${msg}`);
const sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

// --- the system ---------------------------------------------------------------------------------

/** A private copy of dist/ beside links to node_modules (and the dashboard build, if any). */
function copyDist() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'soak-dist-'));
  cpSync(path.resolve(opts.dist), path.join(dir, 'dist'), { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function cli(cliPath, args, env, timeoutMs = 60_000) {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function makeSystem() {
  const copy = opts['no-copy'] ? null : copyDist();
  const cliPath = copy ? path.join(copy, 'dist', 'cli.js') : path.join(path.resolve(opts.dist), 'cli.js');
  const home = mkdtempSync(path.join(os.tmpdir(), 'soak-home-'));
  const ports = {};
  for (const s of SERVICES) ports[s] = await freePort();
  ports.supervisor = await freePort();
  const config = {
    log: { level: opts['log-level'] },
    supervisor: { metricsPort: ports.supervisor },
    sim: {
      tradesPerSecond: rate,
      // A fresh session: no first-start backfill of 10 minutes × 8,000 trades/s in the warm-up.
      ...(!opts.backfill && { openAt: new Date(Date.now() - 1_000).toISOString() }),
    },
    services: {
      'data-capture': { port: ports['data-capture'] },
      'order-manager': {
        port: ports['order-manager'],
        strategies: ['momentum'],
        momentum: { cooldownMs: Number(opts['cooldown-ms']) },
      },
      stream: { port: ports.stream },
      gateway: { port: ports.gateway, staticDir: path.join(ROOT, 'web', 'dist') },
      'idea-bank': { port: ports['idea-bank'] },
      docs: { port: ports.docs, dir: path.join(ROOT, 'docs') },
    },
  };
  const configFile = path.join(home, 'tradingsystem.config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const nodeOptions = [process.env.NODE_OPTIONS ?? ''];
  if (snapshotAt.length) {
    mkdirSync(heapDir, { recursive: true });
    nodeOptions.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapDir}`);
  }
  const env = {
    ...process.env,
    TRADINGSYSTEM_HOME: home,
    TRADINGSYSTEM_CONFIG: configFile,
    NODE_OPTIONS: nodeOptions.join(' ').trim(),
    ...extraEnv,
  };
  return { copy, cliPath, home, ports, config, env };
}

/** Every process that has our data home in its environment (ours alone: the home is a fresh temp dir). */
function processesOf(home) {
  const needle = `TRADINGSYSTEM_HOME=${home}\0`;
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (`${readFileSync(`/proc/${name}/environ`, 'latin1')}\0`.includes(needle)) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

async function stopSystem(sys) {
  log('stopping the system');
  const r = await cli(sys.cliPath, ['stop'], sys.env, 180_000);
  if (r.code !== 0) log(`stop exited ${r.code}: ${r.stderr.trim()}`);
  for (let i = 0; i < 50; i++) {
    const left = processesOf(sys.home);
    if (left.length === 0) return;
    if (i === 49 || r.code !== 0) {
      for (const pid of left) {
        log(`killing straggler pid ${pid}`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    await sleep(200);
  }
}

// --- what the soak drives -----------------------------------------------------------------------

async function api(sys, key, method, route, body) {
  const res = await fetch(`http://127.0.0.1:${sys.ports.gateway}${route}`, {
    method,
    headers: { 'x-api-key': key, ...(body && { 'content-type': 'application/json' }) },
    body: body && JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Limits that let the strategy trade for hours: no loss limit or rate refusal stops it. */
async function openRiskLimits(sys, key) {
  const { data: limits } = await api(sys, key, 'GET', '/api/v1/risk/limits');
  const open = { maxNotional: 10_000_000_000, priceBandPct: 50 }; // the ceiling
  await api(sys, key, 'PUT', '/api/v1/risk/limits', {
    ...limits,
    future: { ...limits.future, ...open },
    equity: { ...limits.equity, ...open },
    dailyLossLimit: 1_000_000_000, // the ceiling
    maxOrdersPerWindow: 1_000,
    maxOpenOrders: 1_000,
    duplicateWindowMs: 0,
    enforceTradingHours: false,
  });
}

/** A dashboard-like reader: bars, recent trades, positions and orders through the gateway. */
function restReader(sys, key, signal) {
  const counts = { ok: 0, failed: 0, lastError: null };
  // Bounded windows (the last 30 minutes of bars, 5 of trades): a query's cost must not grow with
  // the soak's length, or it would show up as latency drift that no real dashboard causes.
  const routes = () => [
    `/api/v1/bars?ticker=WINZ26&interval=1m&from=${Date.now() - 30 * 60_000}`,
    `/api/v1/trades?ticker=PETR4&order=desc&limit=100&from=${Date.now() - 5 * 60_000}`,
    '/api/v1/positions',
    '/api/v1/orders?limit=50',
  ];
  const loop = async () => {
    while (!signal.aborted && restEveryMs > 0) {
      await sleep(restEveryMs, signal);
      for (const r of routes()) {
        if (signal.aborted) break;
        try {
          await api(sys, key, 'GET', r);
          counts.ok++;
        } catch (err) {
          counts.failed++;
          counts.lastError = err.message.slice(0, 200);
        }
      }
    }
  };
  return { counts, done: loop() };
}

function startClients(sys, apiKey) {
  const channels = [
    ...SYMBOLS.flatMap((s) => [`trades:${s}`, `quotes:${s}`, `bars:1m:${s}`]),
    'orders',
    'positions',
    'risk',
    'health',
  ];
  const worker = new Worker(new URL('./soak-clients.mjs', import.meta.url), {
    workerData: { url: `ws://127.0.0.1:${sys.ports.stream}/ws`, apiKey, channels, clients: streamClients },
  });
  let waiting = null;
  worker.on('message', (m) => {
    if (m.op === 'stats' && waiting) {
      waiting(m.stats);
      waiting = null;
    }
  });
  worker.on('error', (err) => log(`stream clients failed: ${err.message}`));
  return {
    stats: () =>
      new Promise((resolve) => {
        waiting = resolve;
        worker.postMessage({ op: 'stats' });
        setTimeout(() => resolve(null), 5_000).unref();
      }),
    stop: async () => {
      worker.postMessage({ op: 'stop' });
      await Promise.race([new Promise((r) => worker.once('exit', r)), sleep(3_000)]);
      await worker.terminate();
    },
  };
}

// --- sampling -----------------------------------------------------------------------------------

function procStats(pid, prevCpu, dtMs) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const cpuTicks = Number(stat[11]) + Number(stat[12]);
    return {
      rssKb: kb('VmRSS'),
      rssAnonKb: kb('RssAnon'),
      rssFileKb: kb('RssFile'),
      hwmKb: kb('VmHWM'),
      threads: kb('Threads'),
      fds: readdirSync(`/proc/${pid}/fd`).length,
      cpuTicks,
      cpuPct:
        prevCpu !== undefined && dtMs > 0
          ? Math.round(((cpuTicks - prevCpu) * (1000 / CLK_TCK) * 1000) / dtMs) / 10
          : null,
    };
  } catch {
    return null;
  }
}

/** Prometheus text → the figures the soak keeps. */
function parseMetrics(text) {
  const values = new Map();
  const buckets = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const sp = line.lastIndexOf(' ');
    const key = line.slice(0, sp);
    const v = Number(line.slice(sp + 1));
    const b = /^(\w+)_bucket\{(?:.*,)?le="([^"]+)"/.exec(key);
    if (b) {
      const list = buckets[b[1]] ?? [];
      buckets[b[1]] = list;
      list.push([b[2] === '+Inf' ? Number.POSITIVE_INFINITY : Number(b[2]), v]);
      continue;
    }
    values.set(key, v);
  }
  const ms = (k) => (values.has(k) ? values.get(k) * 1000 : undefined);
  const out = {
    heapUsed: values.get('nodejs_heap_size_used_bytes'),
    heapLive: values.get('tradingsystem_heap_live_bytes'),
    heapTotal: values.get('nodejs_heap_size_total_bytes'),
    external: values.get('nodejs_external_memory_bytes'),
    oldSpaceUsed: values.get('nodejs_heap_space_size_used_bytes{space="old"}'),
    lagP50Ms: ms('nodejs_eventloop_lag_p50_seconds'),
    lagP99Ms: ms('nodejs_eventloop_lag_p99_seconds'),
    lagMaxMs: ms('nodejs_eventloop_lag_max_seconds'),
    gcMajorSeconds: values.get('nodejs_gc_duration_seconds_sum{kind="major"}'),
    tickToOrder: buckets.tradingsystem_order_manager_tick_to_order_seconds,
    signalToOrder: buckets.tradingsystem_order_manager_signal_to_order_seconds,
    ordersSubmitted: values.get('tradingsystem_order_manager_orders_submitted_total'),
    ordersFilled: values.get('tradingsystem_order_manager_orders_filled_total'),
    openOrders: values.get('tradingsystem_order_manager_open_orders'),
    feedLastSeq: values.get('tradingsystem_data_capture_journal_seq{kind="written"}'),
    parquetPending: values.get('tradingsystem_data_capture_parquet_pending_segments'),
    streamClients: values.get('tradingsystem_stream_clients'),
  };
  // Everything of ours that is a single number (counters, gauges), for later questions.
  let duckdb = 0;
  for (const [k, v] of values)
    if (k.startsWith('tradingsystem_data_capture_duckdb_memory_bytes{')) duckdb += v;
  out.duckdbBytes = duckdb || undefined;
  out.app = Object.fromEntries(
    [...values].filter(
      ([k]) =>
        k.startsWith('tradingsystem_') && !k.includes('_seconds_') && !k.startsWith('tradingsystem_http_'),
    ),
  );
  return out;
}

async function scrape(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return null;
    return parseMetrics(await res.text());
  } catch {
    return null;
  }
}

function dirBytes(dir) {
  let total = 0;
  let files = 0;
  const walk = (d) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        try {
          total += statSync(p).size;
          files++;
        } catch {}
      }
    }
  };
  walk(dir);
  return { total, files };
}

const fileBytes = (f) => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};

function fileSizes(home) {
  const journal = dirBytes(path.join(home, 'journal', 'marketdata'));
  return {
    journalMarketdata: journal.total,
    journalSegments: journal.files,
    ordersSqlite: fileBytes(path.join(home, 'db', 'orders.sqlite')),
    ordersWal: fileBytes(path.join(home, 'db', 'orders.sqlite-wal')),
    venueSqlite: fileBytes(path.join(home, 'sim', 'venue.sqlite')),
    venueWal: fileBytes(path.join(home, 'sim', 'venue.sqlite-wal')),
    parquet: dirBytes(path.join(home, 'parquet')).total,
    logs: dirBytes(path.join(home, 'logs')).total,
  };
}

async function statusJson(sys) {
  const r = await cli(sys.cliPath, ['status', '--json'], sys.env, 20_000);
  try {
    return JSON.parse(r.stdout);
  } catch {
    return null;
  }
}

/**
 * kill -9 of data-capture, then its status every 500 ms until it is up again as another process
 * and has stayed so for 60 s (or 5 minutes pass): what the operator would see.
 */
async function killDataCapture(sys, min) {
  const dc = (st) => st?.processes?.find((p) => p.name === 'data-capture');
  const before = dc(await statusJson(sys));
  if (!before?.pid) return { min, error: 'no data-capture pid' };
  process.kill(before.pid, 'SIGKILL');
  const at = Date.now();
  const kill = { min, pid: before.pid, restartsBefore: before.restarts, backMs: null, stableMs: null };
  let upSince = null;
  let upPid = null;
  while (Date.now() - at < 300_000) {
    await sleep(500);
    const p = dc(await statusJson(sys));
    const up = p?.pid && p.pid !== before.pid && (p.state === 'healthy' || p.state === 'degraded');
    if (up && p.pid === upPid) {
      if (Date.now() - upSince >= 60_000) {
        kill.stableMs = Date.now() - at;
        break;
      }
    } else if (up) {
      upPid = p.pid;
      upSince = Date.now();
      kill.backMs ??= upSince - at;
    } else upPid = null;
    kill.restartsAfter = p?.restarts;
    kill.state = p?.state;
  }
  // Restarts beyond the one our kill caused (null: the supervisor never answered).
  kill.extraRestarts =
    kill.restartsAfter === undefined ? null : kill.restartsAfter - (kill.restartsBefore ?? 0) - 1;
  log(
    `kill -9 data-capture at min ${min}: serving again after ${kill.backMs ?? '-'} ms, ` +
      `stable for 60 s after ${kill.stableMs ?? '-'} ms, ${kill.extraRestarts ?? '?'} more restart(s)`,
  );
  return kill;
}

async function takeSample(sys, t0, prev, clients, rest) {
  const now = Date.now();
  const status = await statusJson(sys);
  const services = {};
  const rows = [
    {
      name: 'supervisor',
      pid: status?.pid ?? null,
      state: status?.running ? 'running' : 'down',
      restarts: 0,
    },
    ...(status?.processes ?? []).map((p) => ({
      name: p.name,
      pid: p.pid,
      state: p.state,
      restarts: p.restarts,
    })),
  ];
  await Promise.all(
    rows.map(async (r) => {
      const before = prev?.services[r.name];
      const samePid = before && before.pid === r.pid;
      const proc = r.pid
        ? procStats(r.pid, samePid ? before.proc?.cpuTicks : undefined, now - (prev?.at ?? now))
        : null;
      const port = sys.ports[r.name];
      services[r.name] = {
        pid: r.pid,
        state: r.state,
        restarts: r.restarts,
        proc,
        metrics: port ? await scrape(port) : null,
      };
    }),
  );
  return {
    at: now,
    min: Math.round(((now - t0) / 60_000) * 1000) / 1000,
    services,
    files: fileSizes(sys.home),
    clients: await clients.stats(),
    // The soak's own CPU (its stream clients run in a worker thread of this process).
    soak: procStats(process.pid, prev?.soak?.cpuTicks, now - (prev?.at ?? now)),
    rest: { ...rest.counts },
  };
}

/** SIGUSR2 to each chosen service, one at a time, waiting for its snapshot file to be complete. */
async function heapSnapshots(sample, minute) {
  const taken = [];
  for (const name of snapshotServices) {
    const pid = sample.services[name]?.pid;
    if (!pid) continue;
    const before = new Set(readdirSync(heapDir));
    process.kill(pid, 'SIGUSR2');
    let file = null;
    let lastSize = -1;
    for (let i = 0; i < 600; i++) {
      await sleep(500);
      file ??= readdirSync(heapDir).find((f) => !before.has(f) && f.includes(`.${pid}.`));
      if (!file) continue;
      const size = fileBytes(path.join(heapDir, file));
      if (size > 0 && size === lastSize) break;
      lastSize = size;
    }
    log(`heap snapshot of ${name} (pid ${pid}) at minute ${minute}: ${file ?? 'none'}`);
    taken.push({ service: name, pid, minute, file });
  }
  return taken;
}

/**
 * The run as one JSON file, formatted as the repo's biome wants it (bench/results is inside the
 * checked tree); the per-sample .jsonl it replaces goes. If formatting fails, the .jsonl stays.
 */
function writeResult(run) {
  const file = `${outBase}.json`;
  writeFileSync(file, JSON.stringify(run));
  try {
    execFileSync(path.join(ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', file], {
      stdio: 'ignore',
      timeout: 120_000,
    });
    rmSync(`${outBase}.jsonl`, { force: true });
  } catch (err) {
    log(`could not format ${file} (${err.message}); the samples are in ${outBase}.jsonl`);
    rmSync(file, { force: true });
  }
}

// --- main ---------------------------------------------------------------------------------------

async function main() {
  const abort = new AbortController();
  const onSignal = (sig) => {
    log(`${sig}: ending the soak early`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const sys = await makeSystem();
  const run = {
    name: runName,
    startedAt: new Date().toISOString(),
    machine: machine(),
    config: {
      minutes,
      tradesPerSecond: rate,
      streamClients,
      restEverySeconds: restEveryMs / 1000,
      sampleSeconds: sampleMs / 1000,
      minimaMinutes: Number(opts['minima-minutes']),
      cooldownMs: Number(opts['cooldown-ms']),
      env: extraEnv,
      logLevel: opts['log-level'],
      home: sys.home,
      dist: path.resolve(opts.dist),
    },
    warmupMin,
    windowSamples: Math.max(1, Math.round((Number(opts['minima-minutes']) * 60_000) / sampleMs)),
    latencyWindowMin: 5,
    samples: [],
    events: [],
  };
  // While it runs, one JSON line per sample (biome does not check .jsonl, so `npm run check`
  // stays green meanwhile); at the end the whole run as formatted JSON.
  const { samples: _, ...meta } = run;
  writeFileSync(`${outBase}.jsonl`, `${JSON.stringify({ type: 'run', ...meta })}\n`);
  const save = (sample) =>
    appendFileSync(`${outBase}.jsonl`, `${JSON.stringify({ type: 'sample', ...sample })}\n`);
  let clients = null;
  let rest = null;
  const restAbort = new AbortController();
  let failed = null;
  try {
    log(`data home ${sys.home}; gateway :${sys.ports.gateway}, stream :${sys.ports.stream}`);
    const started = await cli(sys.cliPath, ['start', '--detach'], sys.env, 300_000);
    if (started.code !== 0)
      throw new Error(`start failed (${started.code}): ${started.stdout}${started.stderr}`);
    log('system up');
    const key = await cli(sys.cliPath, ['keys', 'create', '--role', 'admin', '--name', 'soak'], sys.env);
    const apiKey = key.stdout.trim();
    if (key.code !== 0 || !apiKey) throw new Error(`keys create failed: ${key.stderr}`);
    await openRiskLimits(sys, apiKey);
    clients = startClients(sys, apiKey);
    rest = restReader(sys, apiKey, restAbort.signal);

    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    let prev = null;
    const pendingSnapshots = [...snapshotAt];
    const pendingKills = [...killAt];
    run.kills = [];
    for (let i = 0; !abort.signal.aborted; i++) {
      const sample = await takeSample(sys, t0, prev, clients, rest);
      run.samples.push(sample);
      prev = sample;
      save(sample);
      const s = sample.services;
      const mb = (n) => (s[n]?.proc ? Math.round(s[n].proc.rssKb / 1024) : '-');
      log(
        `min ${sample.min.toFixed(1)}: RSS ${Object.keys(s)
          .map((n) => `${n} ${mb(n)}`)
          .join(
            ', ',
          )} MB; orders ${s['order-manager']?.metrics?.ordersSubmitted ?? '?'}; journal ${Math.round(sample.files.journalMarketdata / 2 ** 20)} MB`,
      );
      if (pendingKills.length && sample.min >= pendingKills[0] - 0.01) {
        run.kills.push(await killDataCapture(sys, pendingKills.shift()));
      }
      if (pendingSnapshots.length && sample.min >= pendingSnapshots[0] - 0.01) {
        pendingSnapshots.shift();
        run.events.push({ min: sample.min, heapSnapshots: await heapSnapshots(sample, sample.min) });
      }
      if (Date.now() >= end) break;
      // The next whole sample interval (a kill's watch may have taken several).
      const next = t0 + Math.max(i + 1, Math.ceil((Date.now() - t0) / sampleMs)) * sampleMs;
      await sleep(Math.max(0, Math.min(next, end) - Date.now()), abort.signal);
    }
  } catch (err) {
    failed = err;
    log(`soak failed: ${err.stack ?? err.message}`);
  } finally {
    restAbort.abort();
    await rest?.done.catch(() => {});
    await clients?.stop().catch(() => {});
    await stopSystem(sys).catch((err) => log(`stop failed: ${err.message}`));
    if (!opts['keep-home']) rmSync(sys.home, { recursive: true, force: true });
    else log(`data home kept: ${sys.home}`);
    if (sys.copy) rmSync(sys.copy, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  run.endedAt = new Date().toISOString();
  run.aborted = abort.signal.aborted;
  if (failed) run.error = String(failed.message ?? failed);
  if (run.samples.length >= 2) {
    // Growth from the samples before the first kill: a restart starts a process's memory afresh.
    const firstKill = run.kills?.[0]?.min ?? Number.POSITIVE_INFINITY;
    run.summary = summarize({ ...run, samples: run.samples.filter((x) => x.min < firstKill) });
    writeResult(run);
    try {
      await renderPng(chartHtml(run, run.summary), `${outBase}.png`);
    } catch (err) {
      log(`chart failed: ${err.message}`);
    }
    console.log(markdownTable(run.summary));
    console.log(`tick-to-order p99 drift: ${JSON.stringify(run.summary.tickToOrder.drift)}`);
  } else writeResult(run);
  const written = [`${outBase}.json`, `${outBase}.jsonl`, `${outBase}.png`].filter((f) => existsSync(f));
  log(`results: ${written.join(', ')}`);
  process.exitCode = failed ? 1 : abort.signal.aborted ? 130 : 0;
}

await main();
