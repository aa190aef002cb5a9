// Issue 13, finding 4: the gateway held whole upstream answers (40 parallel 11.7 MB answers took it
// from 201 MB to 1.25 GB) and `limit` was unbounded. A local server stands in for data-capture.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { KeyStore } from '../src/kernel/auth/keys.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { MAX_LIMIT } from '../src/services/gateway/schemas.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { tempHome } from './helpers/cli.js';

const ANSWER_BYTES = 10 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

let upstream: http.Server;
let gatewayPort: number;
let key: string;
let ctx: ServiceContext;
/** Set by a test: the upstream writes its first MB, then waits for this before the rest. */
let holdAfterFirstMb: Promise<void> | undefined;
let finishedAt = 0;

beforeAll(async () => {
  upstream = http.createServer(async (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(ANSWER_BYTES) });
    const hold = req.url?.includes('hold') ? holdAfterFirstMb : undefined;
    for (let sent = 0; sent < ANSWER_BYTES; sent += CHUNK.length) {
      if (hold && sent === 1024 * 1024) await hold;
      // Respect backpressure, as a real server does: the gateway's reading pace sets ours.
      if (!res.write(CHUNK)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
    finishedAt = performance.now();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const home = tempHome('ts-sec-proxy-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String((upstream.address() as AddressInfo).port),
      TRADINGSYSTEM__SERVICES__GATEWAY__UPSTREAM_TIMEOUT_MS: '30000',
      TRADINGSYSTEM__SERVICES__GATEWAY__READS_PER_MINUTE: '10000',
    },
    cwd: home,
  });
  ctx = await buildService(gatewayService, { config });
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  gatewayPort = (ctx.app.server.address() as AddressInfo).port;
  key = (await KeyStore.at(home).create('reader', 'viewer')).key;
});

afterAll(async () => {
  await ctx?.app.close();
  upstream?.closeAllConnections();
  upstream?.close();
});

/** GET through the gateway: status, bytes received, and when the first body bytes came. */
function fetchTrades(query: string, onFirstBytes?: () => void) {
  return new Promise<{ status: number; bytes: number; body: string; firstAt: number }>((resolve, reject) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port: gatewayPort,
        path: `/api/v1/trades?ticker=WINZ26${query}`,
        headers: { 'x-api-key': key },
        agent: false,
      },
      (res) => {
        let bytes = 0;
        let firstAt = 0;
        let body = '';
        res.on('data', (d: Buffer) => {
          if (!firstAt) {
            firstAt = performance.now();
            onFirstBytes?.();
          }
          bytes += d.length;
          if (body.length < 4096) body += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, body, firstAt }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

describe('finding 4: the proxy streams upstream answers', () => {
  it('passes the first bytes on before the upstream has finished (it waits for them)', async () => {
    let release = () => {};
    holdAfterFirstMb = new Promise<void>((r) => {
      release = r;
    });
    const answer = await Promise.race([
      fetchTrades('&hold=1', () => release()),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('no bytes before the upstream finished: buffered')), 10_000),
      ),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.bytes).toBe(ANSWER_BYTES);
    expect(answer.firstAt).toBeLessThan(finishedAt);
  }, 20_000);

  it('20 parallel 10 MB answers grow the gateway by far less than their size', async () => {
    global.gc?.();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakHeap = before.heapUsed;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 20);
    const answers = await Promise.all(Array.from({ length: 20 }, () => fetchTrades('')));
    clearInterval(sampler);
    const mb = (n: number) => Math.round(n / 1_048_576);
    console.log(
      `20 × 10 MB through the gateway: RSS +${mb(peakRss - before.rss)} MB (peak ${mb(peakRss)} MB), ` +
        `heap +${mb(peakHeap - before.heapUsed)} MB`,
    );
    for (const a of answers) expect([a.status, a.bytes]).toEqual([200, ANSWER_BYTES]);
    // Buffered, 200 MB of answers held as strings and sent again was well over 400 MB.
    expect(peakHeap - before.heapUsed).toBeLessThan(100 * 1_048_576);
    expect(peakRss - before.rss).toBeLessThan(150 * 1_048_576);
  }, 60_000);

  it('refuses a limit above the cap with 400 naming the field', async () => {
    const res = await fetchTrades(`&limit=${MAX_LIMIT.trades + 1}`);
    expect(res.status).toBe(400);
    const { error } = JSON.parse(res.body);
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(error.details.field).toMatch(/limit/);
    expect(error.message).toMatch(/10000/);
  });
});
