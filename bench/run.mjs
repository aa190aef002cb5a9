// `npm run bench`: runs every benchmark (or those named on the command line) and prints a table.
// Results with their method are recorded in BENCHMARKS.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib.mjs';

const BENCHES = {
  'http-reads': () => import('./http-reads.mjs'),
  journal: () => import('./journal.mjs'),
  capture: () => import('./capture.mjs'),
  feed: () => import('./feed.mjs'),
  orders: () => import('./orders.mjs'),
  gateway: () => import('./gateway.mjs'),
  stream: () => import('./stream.mjs'),
  profitdll: () => import('./profitdll.mjs'),
};

const only = process.argv.slice(2);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const durationS = Number(process.env.BENCH_SECONDS ?? 5);
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });

for (const [name, load] of Object.entries(BENCHES)) {
  if (only.length && !only.includes(name)) continue;
  const { run } = await load();
  const out = await run({ rounds, durationS });
  const each = out.durationS === null ? '' : ` × ${out.durationS} s`;
  console.log(`\n## ${name}  (${out.machine}; median of ${out.rounds} runs${each})`);
  const rows = Object.entries(out.results).map(([k, v]) => ({
    target: k,
    'per s': v.rps,
    'p50 ms': v.p50 ?? '',
    'p99 ms': v.p99 ?? '',
    ...(v.cpuUs !== undefined && { 'CPU µs/op': v.cpuUs }),
  }));
  console.table(rows);
  writeFileSync(path.join(ROOT, 'bench', 'results', `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
}
