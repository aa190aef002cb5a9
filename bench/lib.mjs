// Shared helpers for benchmarks: real service processes on loopback, repeated runs, medians.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = path.join(ROOT, 'dist', 'cli.js');

export const tempHome = (prefix) => mkdtempSync(path.join(os.tmpdir(), prefix));

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** One internal credential per data home, as the supervisor gives its services. */
const tokens = new Map();

/**
 * Starts `tradingsystem run <service>` and resolves once its /health answers. `headers` carry the
 * internal credential every route but /health and /metrics asks for.
 */
export async function startService(service, env) {
  const home = env.TRADINGSYSTEM_HOME ?? '';
  if (!tokens.has(home)) tokens.set(home, randomBytes(32).toString('base64url'));
  // Services of different homes that call each other are given one token in `env`.
  const token = env.TRADINGSYSTEM_INTERNAL_TOKEN ?? tokens.get(home);
  const child = spawn(process.execPath, [CLI, 'run', service], {
    env: {
      ...process.env,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM_SUPERVISED: '1',
      TRADINGSYSTEM_INTERNAL_TOKEN: token,
      ...env,
    },
    stdio: 'ignore',
  });
  const port = env[`TRADINGSYSTEM__SERVICES__${service.replace(/-/g, '_').toUpperCase()}__PORT`];
  await waitForHttp(`http://127.0.0.1:${port}/health`);
  const headers = { 'x-tradingsystem-internal': token };
  return { child, base: `http://127.0.0.1:${port}`, headers, stop: () => stopChild(child) };
}

/** An idea bank on a fresh home with `count` ideas (two categories of text, ten tags), posted 50 at a time. */
export async function startIdeaBank(count) {
  const port = await freePort();
  const ideas = await startService('idea-bank', {
    TRADINGSYSTEM_HOME: tempHome('bench-ideas-'),
    TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(port),
  });
  const { IDEA_CATEGORIES: categories } = await import(path.join(ROOT, 'dist', 'domain', 'ideas.js'));
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) =>
        fetch(`${ideas.base}/api/items`, {
          method: 'POST',
          headers: { ...ideas.headers, 'content-type': 'application/json' },
          body: JSON.stringify({
            title: `Idea ${i + j} about ${j % 2 ? 'liquidez' : 'volatilidade'} on WINZ26`,
            description: `Measure and act on market microstructure signal number ${i + j}; compare with last session.`,
            category: categories[(i + j) % categories.length],
            tags: ['b3', `t${(i + j) % 10}`],
          }),
        }),
      ),
    );
  }
  return { ...ideas, port };
}

/** Starts a plain node script that listens on PORT. */
export async function startScript(script, port, env = {}) {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: String(port), ...env },
    stdio: 'ignore',
  });
  await waitForHttp(`http://127.0.0.1:${port}/health`);
  return { child, base: `http://127.0.0.1:${port}`, stop: () => stopChild(child) };
}

async function waitForHttp(url, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** One autocannon run: requests per second and latency percentiles in ms. */
export async function load(url, { connections = 10, durationS = 5, headers = {} } = {}) {
  const r = await autocannon({ url, connections, duration: durationS, headers });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The median of each figure over repeated runs; requests per second rounded to a whole number. */
export function medians(runs) {
  const keys = Object.keys(runs[0] ?? {}).filter((k) => typeof runs[0][k] === 'number');
  const out = Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))]));
  if ('rps' in out) out.rps = Math.round(out.rps);
  return out;
}

/**
 * Runs each target (a URL, or `{url, headers}`) `rounds` times, interleaved so drift on a noisy machine hits all of them alike,
 * and reports the median of each figure.
 */
export async function compare(targets, { rounds = 3, ...opts } = {}) {
  const runs = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  for (let i = 0; i < rounds; i++) {
    for (const [name, target] of Object.entries(targets)) {
      const { url, headers } = typeof target === 'string' ? { url: target } : target;
      runs[name].push(await load(url, { ...opts, ...(headers && { headers }) }));
    }
  }
  return Object.fromEntries(Object.entries(runs).map(([name, rs]) => [name, medians(rs)]));
}

/**
 * The same for in-process targets: `measure(name)` runs one; each round starts with the next
 * target, so JIT warm-up and drift hit all of them alike.
 */
export async function interleaved(names, rounds, measure) {
  const runs = Object.fromEntries(names.map((k) => [k, []]));
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length];
      runs[name].push(await measure(name));
    }
  }
  return Object.fromEntries(Object.entries(runs).map(([name, rs]) => [name, medians(rs)]));
}

export const round3 = (x) => Math.round(x * 1_000) / 1_000;

/** Ours over the baseline, figure by figure. */
export const ratio = (ours, base) => ({
  rps: round3(ours.rps / base.rps),
  p50: round3(ours.p50 / base.p50),
  p99: round3(ours.p99 / base.p99),
});

/** The value at quantile q of an ascending array. */
export const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

export async function waitUntil(cond, timeoutMs = 10_000) {
  for (const deadline = Date.now() + timeoutMs; !cond(); ) {
    if (Date.now() > deadline) throw new Error('bench target did not come up');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Calls publish(seq) `rate` times a second, paced by the clock, for durationS. */
export async function publishAtRate(rate, durationS, publish) {
  const start = performance.now();
  const end = start + durationS * 1_000;
  let sent = 0;
  for (let now = start; now < end; now = performance.now()) {
    const due = Math.floor(((now - start) * rate) / 1_000);
    while (sent < due) publish(++sent);
    await new Promise((r) => setTimeout(r, 1));
  }
  return { sent, elapsed: (performance.now() - start) / 1_000 };
}

export function machine() {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/** Trades like the simulator's, spread over four instruments, for storage benchmarks. */
export function syntheticTrades(n, t0 = Date.parse('2026-03-16T13:00:00Z')) {
  const tickers = ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3'];
  return Array.from({ length: n }, (_, i) => ({
    kind: 'trade',
    seq: i + 1,
    recvTs: t0 + i,
    backfilled: false,
    ticker: tickers[i % 4],
    exchange: i % 4 < 2 ? 'F' : 'B',
    ts: t0 + i,
    tradeId: 1 + Math.floor(i / 4),
    price: 128_000 + 5 * (i % 17),
    qty: 1 + (i % 9),
    aggressor: i % 2 ? 'BUY' : 'SELL',
    buyAgent: 3,
    sellAgent: 308,
  }));
}
