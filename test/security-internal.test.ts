// Finding 6 of issue 13: local services trusted everyone on the host. The real system runs under
// the supervisor on a temp home; every internal service is called directly, as another local
// process or a DNS-rebinding page would, and through the gateway, as users do.
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { INTERNAL_HEADER, internalTokenFile } from '../src/kernel/internal-auth.js';
import { configEnv, freePorts, internalHeaders, type JsonBody, runCli, tempHome } from './helpers/cli.js';

const SERVICES = ['data-capture', 'order-manager', 'stream', 'idea-bank', 'docs'] as const;
type Internal = (typeof SERVICES)[number];

const home = tempHome('ts-sec-internal-');
let env: NodeJS.ProcessEnv;
let ports: Record<Internal | 'gateway', number>;
let apiKey = '';
let keyId = '';
let token = '';

interface Req {
  method: string;
  path: string;
  body?: object;
}
const IDEA = { title: 'Internal idea', description: 'must not be created', category: 'analise-dados' };
/** Per service: a request that would change something, and a read of its data. */
const REQUESTS: Record<Internal, { change: Req; read: Req }> = {
  'data-capture': {
    change: { method: 'POST', path: '/api/sim/faults', body: { kind: 'disconnect', durationMs: 60_000 } },
    read: { method: 'GET', path: '/api/trades?ticker=WINZ26&order=desc&limit=5' },
  },
  'order-manager': {
    change: { method: 'POST', path: '/api/risk/kill-switch', body: { reason: 'attacker' } },
    read: { method: 'GET', path: '/api/orders' },
  },
  // The stream and the docs change nothing over HTTP: any request is refused before routing.
  stream: {
    change: { method: 'POST', path: '/api/status', body: {} },
    read: { method: 'GET', path: '/api/status' },
  },
  'idea-bank': {
    change: { method: 'POST', path: '/api/items', body: IDEA },
    read: { method: 'GET', path: '/api/items' },
  },
  docs: {
    change: { method: 'POST', path: '/api/docs', body: {} },
    read: { method: 'GET', path: '/api/docs' },
  },
};
const FEEDS: [Internal, string][] = [
  ['data-capture', '/feed/market'],
  ['order-manager', '/feed/orders'],
];

/** One request on node:http, which sends the Host header given (fetch replaces it). */
function send(
  port: number,
  req: Req,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: JsonBody }> {
  const payload = req.body && JSON.stringify(req.body);
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        method: req.method,
        path: req.path,
        headers: { ...(payload && { 'content-type': 'application/json' }), ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => {
          let body: JsonBody = text;
          try {
            body = JSON.parse(text);
          } catch {
            // metrics: text
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    r.on('error', reject);
    r.end(payload);
  });
}

/** The status of a WebSocket upgrade: 101 when it opened, else the HTTP refusal's status and code. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; code?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.on('open', () => {
      ws.terminate();
      resolve({ status: 101 });
    });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = JSON.parse(text).error?.code;
        } catch {
          // no envelope
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
    });
    ws.on('error', () => resolve({ status: 0 }));
  });
}

const gateway = (p: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${ports.gateway}${p}`, {
    ...init,
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json', ...(init.headers as object) },
  });
const withToken = () => ({ [INTERNAL_HEADER]: token });

beforeAll(async () => {
  const picked = await freePorts(6);
  ports = {
    'data-capture': picked[0],
    'order-manager': picked[1],
    stream: picked[2],
    'idea-bank': picked[3],
    docs: picked[4],
    gateway: picked[5],
  } as Record<Internal | 'gateway', number>;
  // An older home made with the usual umask: the system tightens it. The config lives outside it.
  chmodSync(home, 0o755);
  const confDir = tempHome('ts-sec-internal-conf-');
  env = {
    ...configEnv(confDir, {
      log: { level: 'info' },
      sim: { tradesPerSecond: 50 },
      services: {
        'data-capture': { port: ports['data-capture'] },
        'order-manager': { port: ports['order-manager'] },
        stream: { port: ports.stream },
        'idea-bank': { port: ports['idea-bank'] },
        docs: { port: ports.docs, dir: path.resolve('docs') },
        gateway: { port: ports.gateway },
      },
    }),
    TRADINGSYSTEM_HOME: home,
  };
  const started = await runCli(['start', '--detach'], env, 120_000);
  expect(started.code, started.stdout + started.stderr).toBe(0);
  token = readFileSync(internalTokenFile(home), 'utf8').trim();
  const created = await runCli(['keys', 'create', '--role', 'admin', '--name', 'sec desk'], env);
  expect(created.code, created.stderr).toBe(0);
  apiKey = /tsk_[A-Za-z0-9_-]+/.exec(created.stdout)?.[0] ?? '';
  keyId = /id ([0-9a-f]{16})/.exec(created.stdout + created.stderr)?.[1] ?? '';
  expect(apiKey && keyId).toBeTruthy();
}, 180_000);

afterAll(async () => {
  await runCli(['stop'], env, 60_000);
});

describe('internal services require the supervisor-issued credential', () => {
  it('issues a 32-byte token in a 0600 file, never shown by /health', async () => {
    expect(Buffer.from(token, 'base64url').length).toBe(32);
    expect(statSync(internalTokenFile(home)).mode & 0o777).toBe(0o600);
    for (const name of SERVICES) {
      const health = await send(ports[name], { method: 'GET', path: '/health' });
      expect(health.status, name).toBe(200);
      expect(JSON.stringify(health.body)).not.toContain(token);
    }
  });

  it.each(SERVICES)(
    '%s: without the credential a change and a read are refused 401; health and metrics stay open',
    async (name) => {
      const port = ports[name];
      const { change, read } = REQUESTS[name];
      for (const req of [change, read]) {
        for (const headers of [
          {} as Record<string, string>,
          { [INTERNAL_HEADER]: 'wrong' },
          { [INTERNAL_HEADER]: `${token}x` },
        ]) {
          const res = await send(port, req, headers);
          expect(res.status, `${name} ${req.method} ${req.path}`).toBe(401);
          expect(res.body.error.code).toBe('INTERNAL_CREDENTIAL_REQUIRED');
          expect(res.body.error.details).toEqual({ header: INTERNAL_HEADER });
        }
      }
      expect((await send(port, { method: 'GET', path: '/health' })).status).toBe(200);
      const metrics = await send(port, { method: 'GET', path: '/metrics' });
      expect(metrics.status).toBe(200);
      expect(String(metrics.body)).toContain('tradingsystem_');
      // With it, the read is served.
      expect((await send(port, read, withToken())).status, `${name} read with the credential`).toBe(200);
    },
  );

  it.each(SERVICES)(
    '%s: a foreign Host or a browser Origin is refused, even with the credential',
    async (name) => {
      const port = ports[name];
      const { change, read } = REQUESTS[name];
      for (const req of [change, read, { method: 'GET', path: '/health' }]) {
        const host = await send(port, req, { ...withToken(), host: `evil.example:${port}` });
        expect(host.status, `${name} ${req.path} Host`).toBe(421);
        expect(host.body.error).toMatchObject({ code: 'HOST_NOT_ALLOWED', details: { header: 'host' } });
        const origin = await send(port, req, { ...withToken(), origin: 'http://evil.example' });
        expect(origin.status, `${name} ${req.path} Origin`).toBe(403);
        expect(origin.body.error).toMatchObject({
          code: 'ORIGIN_NOT_ALLOWED',
          details: { header: 'origin' },
        });
      }
      // Loopback names with the service's port are this service.
      for (const h of [`localhost:${port}`, `[::1]:${port}`]) {
        expect((await send(port, read, { ...withToken(), host: h })).status, h).toBe(200);
      }
      expect((await send(port, read, { ...withToken(), host: '127.0.0.1:1' })).status).toBe(421);
    },
  );

  it('internal feeds refuse WebSocket upgrades without the credential, a foreign Host or an Origin', async () => {
    for (const [name, feed] of FEEDS) {
      const url = `ws://127.0.0.1:${ports[name]}${feed}`;
      expect(await upgrade(url, {}), name).toEqual({ status: 401, code: 'INTERNAL_CREDENTIAL_REQUIRED' });
      expect(await upgrade(url, { ...withToken(), host: 'evil.example' })).toEqual({
        status: 421,
        code: 'HOST_NOT_ALLOWED',
      });
      expect(await upgrade(url, { ...withToken(), origin: 'http://evil.example' })).toEqual({
        status: 403,
        code: 'ORIGIN_NOT_ALLOWED',
      });
      expect(await upgrade(url, withToken()), name).toEqual({ status: 101 });
    }
    // The stream's client endpoint keeps its own auth (API key or gateway token): no internal
    // credential, the gateway's pages may open it, other origins and hosts may not.
    const ws = `ws://127.0.0.1:${ports.stream}/ws`;
    expect(await upgrade(ws, {})).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(await upgrade(ws, { 'x-api-key': apiKey })).toEqual({ status: 101 });
    expect(await upgrade(ws, { 'x-api-key': apiKey, origin: `http://127.0.0.1:${ports.gateway}` })).toEqual({
      status: 101,
    });
    expect(await upgrade(ws, { 'x-api-key': apiKey, origin: 'http://evil.example' })).toEqual({
      status: 403,
      code: 'ORIGIN_NOT_ALLOWED',
    });
    expect(await upgrade(ws, { 'x-api-key': apiKey, host: `evil.example:${ports.stream}` })).toEqual({
      status: 421,
      code: 'HOST_NOT_ALLOWED',
    });
  });

  it('nothing was changed by the refused requests, and a forged x-actor never reaches the audit trail', async () => {
    const forged = await send(
      ports['order-manager'],
      { method: 'PUT', path: '/api/risk/state', body: { state: 'HALTED', reason: 'forged' } },
      { 'x-actor': 'forged-actor' },
    );
    expect(forged.status).toBe(401);
    const om = ports['order-manager'];
    const risk = await send(om, { method: 'GET', path: '/api/risk/state' }, withToken());
    expect(risk.body.data).toMatchObject({ tradingState: 'ACTIVE', killSwitch: { active: false } });
    const audit = await send(om, { method: 'GET', path: '/api/audit' }, withToken());
    expect(JSON.stringify(audit.body)).not.toContain('forged');
    expect(JSON.stringify(audit.body)).not.toContain('attacker');
    const faults = await send(ports['data-capture'], { method: 'GET', path: '/api/sim/faults' }, withToken());
    expect(faults.body).toEqual({ active: [] });
    const ideas = await send(ports['idea-bank'], { method: 'GET', path: '/api/items' }, withToken());
    expect(ideas.body.total).toBe(0);
  });
});

describe('through the gateway with an API key', () => {
  it('everything works, and the audit trail names the key with its id (a client x-actor is ignored)', async () => {
    const on = await gateway('/api/v1/risk/kill-switch', {
      method: 'POST',
      headers: { 'x-actor': 'forged-actor' },
      body: JSON.stringify({ reason: 'gateway drill' }),
    });
    expect(on.status).toBe(200);
    const off = await gateway('/api/v1/risk/kill-switch/reset', {
      method: 'POST',
      body: JSON.stringify({ reason: 'drill over' }),
    });
    expect(off.status).toBe(200);
    const audit = (await (await gateway('/api/v1/audit?action=risk.kill_switch')).json()) as JsonBody;
    expect(audit.data[0]).toMatchObject({ actor: `key:sec desk#${keyId}`, reason: 'gateway drill' });
    expect(JSON.stringify(audit)).not.toContain('forged');
    const idea = await gateway('/api/v1/ideas', { method: 'POST', body: JSON.stringify(IDEA) });
    expect(idea.status).toBe(201);
    expect((await gateway('/api/v1/orders')).status).toBe(200);
    expect((await gateway('/api/v1/trades?ticker=WINZ26&limit=1')).status).toBe(200);
    const health = (await (await gateway('/api/v1/health')).json()) as JsonBody;
    expect(health.status, JSON.stringify(health)).not.toBe('down');
    // The stream reads both feeds with the credential.
    const stream = await send(ports.stream, { method: 'GET', path: '/api/status' }, withToken());
    expect(stream.body.inputs.market.connected).toBe(true);
    expect(stream.body.inputs.orders.connected).toBe(true);
  });

  it('refuses a foreign Host and a foreign Origin; its own origin is accepted', async () => {
    const orders = { method: 'GET', path: '/api/v1/orders' };
    const key = { 'x-api-key': apiKey };
    const host = await send(ports.gateway, orders, { ...key, host: `evil.example:${ports.gateway}` });
    expect(host.status).toBe(421);
    expect(host.body.error.code).toBe('HOST_NOT_ALLOWED');
    const origin = await send(ports.gateway, orders, { ...key, origin: 'http://evil.example' });
    expect(origin.status).toBe(403);
    expect(origin.body.error.code).toBe('ORIGIN_NOT_ALLOWED');
    const own = await send(ports.gateway, orders, { ...key, origin: `http://127.0.0.1:${ports.gateway}` });
    expect(own.status).toBe(200);
  });

  it('the CLI presents the credential: sim faults and check-connection work', async () => {
    const faults = await runCli(['sim', 'faults'], env);
    expect(faults.code, faults.stderr).toBe(0);
    const conn = await runCli(['check-connection', '--json'], env);
    expect(conn.code, conn.stdout + conn.stderr).toBe(0);
    expect(internalHeaders(home)).toEqual({ [INTERNAL_HEADER]: token });
  });
});

describe('the data home is private', () => {
  it('is 0700 with folders 0700 and files 0600 after activity; the token is in no log', async () => {
    await runCli(['backup', 'now'], env, 120_000);
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? [p, ...walk(p)] : [p];
      });
    expect(statSync(home).mode & 0o777).toBe(0o700);
    const entries = walk(home);
    const files = entries.filter((p) => statSync(p).isFile());
    expect(files.some((f) => f.endsWith('.sqlite'))).toBe(true);
    expect(files.some((f) => f.endsWith('.jsonl'))).toBe(true);
    const wrong = entries
      .map((p) => ({
        p: path.relative(home, p),
        mode: statSync(p).mode & 0o777,
        dir: statSync(p).isDirectory(),
      }))
      .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600));
    expect(wrong).toEqual([]);
    for (const f of files.filter((x) => x.includes(`${path.sep}logs${path.sep}`))) {
      expect(readFileSync(f, 'utf8').includes(token), f).toBe(false);
    }
  }, 180_000);
});
