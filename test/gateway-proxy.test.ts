// The gateway's upstream client against an upstream that drops idle keep-alive connections the
// way a real server can: its idle close crosses the gateway's next request on the wire, so that
// request is reset. The gateway must not reuse a connection the upstream is about to drop.
import http from 'node:http';
import net from 'node:net';
import type { FastifyRequest } from 'fastify';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { probeHealth } from '../src/kernel/health-probe.js';
import { Registry } from '../src/kernel/metrics.js';
import { gatewayMetrics } from '../src/services/gateway/metrics.js';
import { callUpstream } from '../src/services/gateway/proxy.js';

/** Announced keep-alive timeout, in seconds, as Node's and Fastify's servers announce theirs. */
const KEEP_ALIVE_S = 2;
/** A connection idle this long is treated as closed by the upstream: a request on it is reset. */
const DROPS_AFTER_MS = 1_500;

const servers: net.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

/** A minimal HTTP/1.1 upstream that answers every request with 200 and keeps the connection open. */
async function upstream() {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    let lastAnswer = 0;
    let buffered = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      if (lastAnswer && Date.now() - lastAnswer > DROPS_AFTER_MS) {
        socket.resetAndDestroy();
        return;
      }
      buffered += chunk.toString();
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      const method = buffered.split(' ')[0];
      buffered = buffered.slice(end + 4 + length);
      const body = JSON.stringify({ ok: true, method, connection: connections });
      socket.write(
        'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n' +
          `Keep-Alive: timeout=${KEEP_ALIVE_S}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      lastAnswer = Date.now();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

describe('gateway upstream connections', () => {
  it('does not reuse a keep-alive connection past the upstream idle timeout: a later POST succeeds', async () => {
    const up = await upstream();
    const to = { service: 'idea-bank' as const, host: '127.0.0.1', port: up.port };
    const opts = {
      timeoutMs: 2_000,
      logger: pino({ level: 'silent' }),
      metrics: gatewayMetrics(new Registry()),
    };
    const post = (n: number) =>
      callUpstream(
        { id: `req-${n}` } as FastifyRequest,
        to,
        { method: 'POST', path: '/x', payload: { n } },
        opts,
      );

    const first = await post(1);
    expect(first.status).toBe(200);
    // Right away, the pooled connection is reused.
    expect((await post(2)).status).toBe(200);
    expect(up.connections()).toBe(1);
    // Past the point where the upstream drops it, the POST goes out on a new connection instead of
    // being reset (which would be a 503: a POST is never retried).
    await new Promise((r) => setTimeout(r, DROPS_AFTER_MS + 300));
    const late = await post(3);
    expect(late.status).toBe(200);
    expect(JSON.parse(late.text)).toMatchObject({ ok: true, method: 'POST', connection: 2 });
  });
});

describe('the health probe the gateway and the stream share', () => {
  it("reports the service's status and checks, and 'down' with a detail when nothing answers in time", async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/slow/health') return; // never answers
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'degraded', checks: { feed: { status: 'degraded', lag: 3 } } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const degraded = await probeHealth(`http://127.0.0.1:${port}/health`, 1_000);
      expect(degraded).toMatchObject({ status: 'degraded', httpStatus: 503, checks: { feed: { lag: 3 } } });
      expect(degraded.latencyMs).toBeGreaterThanOrEqual(0);
      const slow = await probeHealth(`http://127.0.0.1:${port}/slow/health`, 200);
      expect(slow).toMatchObject({ status: 'down', httpStatus: null, detail: 'no answer within 200 ms' });
    } finally {
      server.closeAllConnections();
      server.close();
    }
    const gone = await probeHealth(`http://127.0.0.1:${port}/health`, 1_000);
    expect(gone).toMatchObject({ status: 'down', httpStatus: null, detail: 'not answering' });
  });
});
