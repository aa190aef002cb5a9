// A data-capture restart over a long Parquet backlog: the case that once stalled it past the
// supervisor's probes. Takes the data home a soak kept (`npm run soak -- --keep-home`), copies it,
// makes its whole journal a backlog (the checkpoint's Parquet watermark at 0, Parquet emptied) with
// the simulated market closed at the journal's end, then starts data-capture alone on the copy and
// probes `/health` every 500 ms with the supervisor's 2 s timeout until Parquet has no segment
// pending (or 5 minutes). Prints the first answer's time, probe latencies, timeouts, peak RSS and
// the time to convert everything. `--dist` may be repeated to compare builds on the same backlog.
//
//   node bench/restart-backlog.mjs --home /tmp/soak-home-XXXX --dist /tmp/old/dist --dist dist
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { machine, ROOT } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    home: { type: 'string' },
    dist: { type: 'string', multiple: true, default: [path.join(ROOT, 'dist')] },
    'max-seconds': { type: 'string', default: '300' },
  },
});
if (!opts.home) throw new Error('--home <a data home kept by the soak> is required');

/** A copy of the home whose whole journal is yet to convert, the market closed after its end. */
function backlogCopy(home) {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'bench-backlog-'));
  cpSync(home, copy, { recursive: true });
  const cpFile = path.join(copy, 'journal', 'marketdata', 'checkpoint.json');
  const cp = JSON.parse(readFileSync(cpFile, 'utf8'));
  writeFileSync(cpFile, JSON.stringify({ ...cp, convertedThrough: 0 }));
  for (const kind of ['trades', 'quotes']) {
    rmSync(path.join(copy, 'parquet', kind), { recursive: true, force: true });
  }
  const configFile = path.join(copy, 'tradingsystem.config.json');
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  const lastTs = Math.max(...Object.values(cp.tracker.cursors).map((c) => c.lastTs));
  config.sim = { ...config.sim, closeAt: new Date(lastTs + 1).toISOString() };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return { copy, port: config.services['data-capture'].port, records: cp.seq };
}

async function run(dist, home) {
  const { copy, port, records } = backlogCopy(home);
  const out = openSync(path.join(copy, 'data-capture.out'), 'a');
  const t0 = Date.now();
  const child = spawn(process.execPath, [path.join(dist, 'cli.js'), 'run', 'data-capture'], {
    env: {
      ...process.env,
      TRADINGSYSTEM_HOME: copy,
      TRADINGSYSTEM_CONFIG: path.join(copy, 'tradingsystem.config.json'),
    },
    stdio: ['ignore', out, out],
  });
  const rssMb = () => {
    try {
      return Number(readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;
    } catch {
      return 0;
    }
  };
  let firstMs = null;
  let doneMs = null;
  let timeouts = 0;
  let peak = 0;
  const latencies = [];
  while (Date.now() - t0 < Number(opts['max-seconds']) * 1000) {
    const s = Date.now();
    peak = Math.max(peak, rssMb());
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
      const body = await res.json();
      latencies.push(Date.now() - s);
      firstMs ??= Date.now() - t0;
      if (body.checks?.parquet?.pendingSegments === 0) {
        doneMs = Date.now() - t0;
        break;
      }
    } catch {
      if (firstMs !== null) {
        timeouts++;
        latencies.push(2_000);
      }
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 500 - (Date.now() - s))));
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  rmSync(copy, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? null;
  return {
    dist,
    records,
    firstHealthMs: firstMs,
    allInParquetMs: doneMs,
    probes: latencies.length,
    timeouts,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: latencies.at(-1) ?? null,
    peakRssMb: Math.round(peak),
  };
}

const results = [];
for (const dist of opts.dist) results.push(await run(path.resolve(dist), opts.home));
console.log(JSON.stringify({ machine: machine(), results }, null, 2));
