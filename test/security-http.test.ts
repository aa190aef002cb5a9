// Issue 13, findings 2 and 3: slow bodies and connection floods against the service base, and log
// flooding with long unauthenticated URLs through the gateway. Real sockets on 127.0.0.1.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { freePort, tempHome } from './helpers/cli.js';

const running: ServiceContext[] = [];
const sockets: net.Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const ctx of running.reverse()) await ctx.app.close();
});

async function gateway(env: Record<string, string>) {
  const home = tempHome('ts-sec-http-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: String(await freePort()),
      TRADINGSYSTEM__SERVICES__STREAM__MAX_CLIENTS: '10',
      ...env,
    },
    cwd: home,
  });
  const ctx = await buildService(gatewayService, { config });
  running.push(ctx);
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  return { home, port: (ctx.app.server.address() as AddressInfo).port };
}

/** A raw connection; resolves once connected. Records what comes back and when it closes. */
function connect(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  const state = { data: '', closedAt: 0 };
  socket.on('data', (d) => {
    state.data += d.toString();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    state.closedAt = performance.now();
  });
  return new Promise<{ socket: net.Socket; state: typeof state }>((resolve) =>
    socket.once('connect', () => resolve({ socket, state })),
  );
}

function get(port: number, url: string, agent: http.Agent | false = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: url, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

describe('finding 2: timeouts and a connection cap on every service (the service base)', () => {
  it('answers 100 slow bodies with 408 within the request timeout, caps connections, and stays responsive', async () => {
    const REQUEST_TIMEOUT_MS = 1_000;
    const { port } = await gateway({
      TRADINGSYSTEM__HTTP__HEADERS_TIMEOUT_MS: '500',
      TRADINGSYSTEM__HTTP__REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      TRADINGSYSTEM__HTTP__MAX_CONNECTIONS: '102',
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
    });
    const started = performance.now();
    const slow = await Promise.all(Array.from({ length: 100 }, () => connect(port)));
    for (const { socket } of slow) {
      socket.write(
        'POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
      );
    }
    // A byte every 100 ms: a body that would take 100 s.
    const drip = setInterval(() => {
      for (const { socket, state } of slow) if (!state.closedAt) socket.write(' ');
    }, 100);
    try {
      // Meanwhile a normal request (connection 101) is answered at once.
      const t0 = performance.now();
      expect(await get(port, '/health')).toBe(200);
      expect(performance.now() - t0).toBeLessThan(1_000);

      // Connection 101 held open, 102 too; the 103rd is closed at once, unanswered.
      const held = [await connect(port), await connect(port)];
      const over = await connect(port);
      await new Promise((r) => setTimeout(r, 200));
      expect(over.state.closedAt).toBeGreaterThan(0);
      expect(over.state.data).toBe('');
      for (const h of held) h.socket.destroy();

      const deadline = performance.now() + REQUEST_TIMEOUT_MS + 2_500;
      while (slow.some((s) => !s.state.closedAt) && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      clearInterval(drip);
    }
    const closedAfter = slow.map((s) => s.state.closedAt - started);
    const answered408 = slow.filter((s) => s.state.data.startsWith('HTTP/1.1 408')).length;
    console.log(
      `100 slow bodies: all closed by ${Math.round(Math.max(...closedAfter))} ms, ${answered408} answered 408`,
    );
    expect(slow.every((s) => s.state.closedAt > 0)).toBe(true);
    // The timeout plus Node's check interval (at most 1 s, here the 500 ms headers timeout).
    expect(Math.max(...closedAfter)).toBeLessThan(REQUEST_TIMEOUT_MS + 1_500);
    expect(answered408).toBe(100);
    // With the slow sockets gone, new connections are served again.
    expect(await get(port, '/health')).toBe(200);
  }, 30_000);
});

describe('finding 3: log flooding', () => {
  it('2,000 unauthenticated 404s with 15 KB URLs write a bounded log, URLs truncated, most refused with 429', async () => {
    const { home, port } = await gateway({ TRADINGSYSTEM__LOG__LEVEL: 'info' });
    const dir = path.join(home, 'logs', 'gateway');
    const size = () => readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    await get(port, '/health'); // the log file exists
    const before = size();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const long = `/${'a'.repeat(15 * 1024)}`;
    const statuses: number[] = [];
    const started = performance.now();
    for (let batch = 0; batch < 100; batch++) {
      statuses.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, i) => get(port, `${long}${batch}-${i}`, agent)),
        )),
      );
    }
    agent.destroy();
    const ms = performance.now() - started;
    // The count of lines held back is told when that route's next window begins.
    await new Promise((r) => setTimeout(r, 1_100));
    await get(port, '/nothing-here');
    const written = size() - before;
    const count = (s: number) => statuses.filter((x) => x === s).length;
    console.log(
      `2,000 × 15 KB URLs in ${Math.round(ms)} ms: ${count(404)}×404 ${count(429)}×429, log grew ${written} bytes`,
    );
    expect(count(404) + count(429)).toBe(2_000);
    expect(count(429)).toBeGreaterThan(1_000); // the anonymous budget (600 a minute per IP)
    // Before the fix: 30 MB. Now: a few lines a second per status, each URL cut to 256 characters.
    expect(written).toBeLessThan(64 * 1024);
    const lines = readFileSync(path.join(dir, readdirSync(dir)[0] as string), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { url?: string; event?: string; suppressed?: number });
    const urls = lines.filter((l) => l.url?.startsWith('/aaa')).map((l) => l.url as string);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) {
      expect(url.length).toBeLessThan(300);
      // Cut to 256 characters, saying how long it was.
      expect(Number(/…\((\d+) chars\)$/.exec(url)?.[1])).toBeGreaterThan(15 * 1024);
    }
    // The rest were counted, not written.
    expect(lines.some((l) => l.event === 'http.rejected_suppressed' && (l.suppressed ?? 0) > 0)).toBe(true);
  }, 60_000);
});
