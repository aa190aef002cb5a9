// The ProfitDLL adapter against the fake DLL in C: callbacks per second from the DLL's own thread,
// and how long each callback keeps that thread (koffi's relay to Node's thread, the JS work, the
// way back; the fake times every call), the adapter (TranslateTrade, decode, queue, handler, metrics)
// beside a bare koffi callback doing nothing, in the same process, interleaved. On Linux with the
// .so; under Wine with Node for Windows and the MinGW-built DLL when Wine is installed.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import koffi from 'koffi';

const ROOT = path.resolve(
  path.dirname(new URL(import.meta.url).pathname.replace(/^\/([A-Za-z]:)/, '$1')),
  '..',
);
const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);
const TRADES = 50_000;
const T0 = Date.UTC(2026, 11, 7, 13, 0, 0);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/** The fake's controls and its record of how long each trade callback took. */
function controls(library) {
  const lib = koffi.load(library);
  const emit = lib.func(
    'uint32 FakeProfit_EmitTrade(const char *t, int64 at, double p, int64 q, int32 b, int32 s, uint8 ty)',
  );
  const timings = lib.func('uint64 FakeProfit_CallbackTimings(_Out_ int64 *out, uint64 max)');
  return {
    emit: (n) => {
      for (let i = 0; i < n; i++) emit('WINZ26', T0 + i, 130_000 + (i % 40) * 5, 1 + (i % 7), 3, 72, 2);
    },
    /** Microseconds per callback, sorted. */
    timings: () => {
      const out = new BigInt64Array(TRADES);
      const n = Number(timings(out, TRADES));
      return Array.from(out.subarray(0, n), (ns) => Number(ns) / 1000).sort((a, b) => a - b);
    },
  };
}

/** `n` trades through a koffi callback that only counts. */
async function bare(library, ctl) {
  const { CALLBACKS, loadProfitDll } = await dist('adapters/broker/profitdll/ffi.js');
  const dll = loadProfitDll(library);
  const states = new Set();
  let count = 0;
  const onState = koffi.register((t, r) => states.add(`${t},${r}`), koffi.pointer(CALLBACKS.state));
  const onTrade = koffi.register(() => {
    count++;
  }, koffi.pointer(CALLBACKS.trade));
  const alive = setInterval(() => {}, 1 << 30);
  dll.DLLInitializeMarketLogin('k', 'u', 'p', onState, null, null, null, null, null, null, null);
  await until('bare login', () => states.has('2,4') && states.has('3,0'));
  dll.SetTradeCallbackV2(onTrade);
  dll.SubscribeTicker('WINZ26', 'F');
  ctl.timings();
  const started = performance.now();
  ctl.emit(TRADES);
  await until('bare trades', () => count >= TRADES);
  const seconds = (performance.now() - started) / 1000;
  const t = ctl.timings();
  await new Promise((resolve) => dll.DLLFinalize.async(() => resolve()));
  clearInterval(alive);
  return { rate: TRADES / seconds, p50: quantile(t, 0.5), p99: quantile(t, 0.99) };
}

/** `n` trades through the adapter (with its metrics) to a handler that counts. */
async function adapter(library, ctl) {
  const { loadConfig } = await dist('config.js');
  const { createProfitDllBroker } = await dist('adapters/broker/profitdll/index.js');
  const { Registry } = await dist('kernel/metrics.js');
  const home = mkdtempSync(path.join(os.tmpdir(), 'bench-profitdll-'));
  const credentials = path.join(home, 'credentials');
  writeFileSync(credentials, 'PROFITDLL_ACTIVATION_KEY=k\nPROFITDLL_USER=u\nPROFITDLL_PASSWORD=p\n', {
    mode: 0o600,
  });
  const file = path.join(home, 'config.json');
  writeFileSync(file, JSON.stringify({ profitdll: { library, credentialsFile: credentials } }));
  const config = loadConfig({ env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM_CONFIG: file } });
  const { marketData } = createProfitDllBroker(config, { registry: new Registry() });
  let count = 0;
  let connected = false;
  marketData.listenMarketData({
    onEvent: (e) => {
      if (e.type === 'market' && e.state === 'connected') connected = true;
    },
    onTrade: () => {
      count++;
    },
    onQuote: () => {},
  });
  await marketData.connect();
  await until('adapter login', () => connected);
  await marketData.subscribeTrades('WINZ26', 'F');
  ctl.timings();
  const started = performance.now();
  ctl.emit(TRADES);
  await until('adapter trades', () => count >= TRADES);
  const seconds = (performance.now() - started) / 1000;
  const t = ctl.timings();
  await marketData.disconnect();
  return { rate: TRADES / seconds, p50: quantile(t, 0.5), p99: quantile(t, 0.99) };
}

/** Both, `rounds` times interleaved, in this process: the medians. */
async function measure(library, rounds) {
  const ctl = controls(library);
  const runs = { bare: [], adapter: [] };
  for (let r = 0; r < rounds; r++) {
    runs.bare.push(await bare(library, ctl));
    runs.adapter.push(await adapter(library, ctl));
  }
  const summary = (xs) => ({
    rps: Math.round(median(xs.map((x) => x.rate))),
    p50: Number(median(xs.map((x) => x.p50)).toFixed(1)),
    p99: Number(median(xs.map((x) => x.p99)).toFixed(1)),
  });
  return { bare: summary(runs.bare), adapter: summary(runs.adapter) };
}

/** `npm run bench profitdll`: Linux, then Windows under Wine when it is installed. */
export async function run({ rounds }) {
  // Loaded here, not at the top: under Wine this file runs from an app folder without test/.
  const { buildFake } = await import('../test/fixtures/profitdll-fake/build.mjs');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-profitdll-lib-'));
  const so = path.join(dir, 'libprofitdll-fake.so');
  buildFake('linux', so);
  const linux = await measure(so, rounds);
  const results = {
    'linux: bare koffi callback': linux.bare,
    'linux: adapter': linux.adapter,
  };
  const notes = [
    `linux: adapter/bare callbacks per second ${(linux.adapter.rps / linux.bare.rps).toFixed(2)}`,
  ];
  try {
    const { windowsRuntime, winPath } = await import(
      pathToFileURL(path.join(ROOT, 'test', 'fixtures', 'windows', 'runtime.mjs')).href
    );
    const rt = windowsRuntime();
    const dll = path.join(dir, 'ProfitDLL64.dll');
    buildFake('windows', dll);
    const out = path.join(dir, 'wine.json');
    const fd = openSync(out, 'w');
    const child = spawn(
      'wine',
      [rt.nodeExe, 'bench\\profitdll.mjs', '--measure', winPath(dll), String(rounds)],
      {
        cwd: rt.app,
        env: { ...process.env, ...rt.env },
        stdio: ['ignore', fd, fd],
      },
    );
    await new Promise((resolve) => child.on('exit', resolve));
    const wine = JSON.parse(readFileSync(out, 'utf8').trim().split('\n').at(-1));
    results['wine: bare koffi callback'] = wine.bare;
    results['wine: adapter'] = wine.adapter;
    notes.push(`wine: adapter/bare callbacks per second ${(wine.adapter.rps / wine.bare.rps).toFixed(2)}`);
  } catch (err) {
    notes.push(`wine: not run (${err.message.split('\n')[0]})`);
  }
  for (const note of notes) console.log(note);
  return {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    rounds,
    durationS: null, // each run is 50,000 trades, not a duration
    results: Object.fromEntries(
      Object.entries(results).map(([k, v]) => [
        k,
        { rps: v.rps, p50: Number((v.p50 / 1000).toFixed(4)), p99: Number((v.p99 / 1000).toFixed(4)) },
      ]),
    ),
    notes,
  };
}

// Under Wine: `node.exe bench/profitdll.mjs --measure <dll> <rounds>` prints the medians as JSON.
if (process.argv[2] === '--measure') {
  const result = await measure(process.argv[3], Number(process.argv[4] ?? 3));
  console.log(JSON.stringify(result));
  process.exit(0); // at once: nothing needs an orderly end, and a handle koffi left would keep Node waiting
}
