import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { AppError } from './errors.js';
import { buildService, type HealthCheckResult } from './service.js';

async function testService(checks: Record<string, () => HealthCheckResult> = {}) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'ts-svc-'));
  const config = loadConfig({
    env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__HTTP__BODY_LIMIT_BYTES: '2048' },
    cwd: home,
  });
  const shutdown: string[] = [];
  const ctx = await buildService(
    {
      name: 'test-svc',
      setup({ app, addHealthCheck, lifecycle }) {
        for (const [name, check] of Object.entries(checks)) addHealthCheck(name, check);
        lifecycle.add({ name: 'first', stop: () => shutdown.push('first registered') });
        lifecycle.add({ name: 'last', stop: () => shutdown.push('last registered') });
        app.post(
          '/things',
          {
            schema: {
              body: Type.Object(
                { name: Type.String({ minLength: 1 }), qty: Type.Integer({ minimum: 1 }) },
                { additionalProperties: false },
              ),
            },
          },
          async (req, reply) => reply.status(201).send({ got: req.body }),
        );
        app.get(
          '/things',
          {
            schema: {
              querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }) }),
            },
          },
          async (req) => ({ limit: req.query.limit }),
        );
        app.get('/things/:id', async (req) => ({ id: (req.params as { id: string }).id }));
        app.get('/boom', async () => {
          throw new Error('secret internals');
        });
        app.get('/conflict', async () => {
          throw new AppError(409, 'THING_CONFLICT', 'already there', { id: 'x' });
        });
      },
    },
    { config },
  );
  return { ...ctx, shutdown };
}

describe('service base', () => {
  it('reports health as ok, degraded (200) or down (503) from named checks', async () => {
    let broker: HealthCheckResult = { status: 'ok' };
    const { app } = await testService({ broker: () => broker, disk: () => ({ status: 'ok', freeBytes: 1 }) });
    let res = await app.inject('/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'ok',
      service: 'test-svc',
      checks: { broker: { status: 'ok' } },
    });
    broker = { status: 'degraded', detail: 'stalled' };
    res = await app.inject('/health');
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('degraded');
    broker = { status: 'down', detail: 'disconnected' };
    res = await app.inject('/health');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      status: 'down',
      checks: { broker: { status: 'down', detail: 'disconnected' } },
    });
  });

  it('turns a throwing health check into down instead of failing the endpoint', async () => {
    const { app } = await testService({
      flaky: () => {
        throw new Error('db closed');
      },
    });
    const res = await app.inject('/health');
    expect(res.statusCode).toBe(503);
    expect(res.json().checks.flaky).toEqual({ status: 'down', detail: 'db closed' });
  });

  it('serves Prometheus metrics with the HTTP histogram labelled by route template', async () => {
    const { app } = await testService();
    await app.inject('/things?limit=5');
    const res = await app.inject('/metrics');
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toMatch(
      /tradingsystem_http_request_duration_seconds_count\{service="test-svc",method="GET",route="\/things",status="200"\} 1/,
    );
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });

  it('answers bad bodies with 400 and the field named, in the one envelope', async () => {
    const { app } = await testService();
    const cases: [unknown, string][] = [
      [{ name: 'a' }, 'qty'],
      [{ name: 'a', qty: '5' }, 'qty'],
      [{ name: 'a', qty: 0 }, 'qty'],
      [{ name: '', qty: 1 }, 'name'],
      [{ name: 'a', qty: 1, admin: true }, 'admin'],
    ];
    for (const [body, field] of cases) {
      const res = await app.inject({ method: 'POST', url: '/things', payload: body as object });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      const { error } = res.json();
      expect(error.code).toBe('VALIDATION_ERROR');
      expect(error.details.field).toBe(field);
      expect(error.message).toContain(field);
    }
    const ok = await app.inject({ method: 'POST', url: '/things', payload: { name: 'a', qty: 2 } });
    expect(ok.statusCode).toBe(201);
  });

  it('refuses a number that is not finite (1e999 is Infinity) in a body and in a query string', async () => {
    const { app } = await testService();
    const body = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":"a","qty":1e999}',
    });
    expect(body.statusCode).toBe(400);
    expect(body.json().error).toMatchObject({ code: 'VALIDATION_ERROR', details: { field: 'qty' } });
    for (const limit of ['1e999', '-1e999', 'NaN']) {
      const query = await app.inject(`/things?limit=${limit}`);
      expect(query.statusCode, limit).toBe(400);
      expect(query.json().error.details.field).toBe('limit');
    }
  });

  it('coerces and bounds query strings', async () => {
    const { app } = await testService();
    expect((await app.inject('/things?limit=7')).json()).toEqual({ limit: 7 });
    expect((await app.inject('/things')).json()).toEqual({ limit: 10 });
    const res = await app.inject('/things?limit=100000');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details).toMatchObject({ location: 'querystring', field: 'limit' });
  });

  it('rejects malformed JSON, oversized bodies and unknown routes with coded errors', async () => {
    const { app } = await testService();
    const bad = await app.inject({
      method: 'POST',
      url: '/things',
      payload: '{"name":',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_JSON');
    const big = await app.inject({
      method: 'POST',
      url: '/things',
      payload: { name: 'x'.repeat(5000), qty: 1 },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const missing = await app.inject('/nope');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
  });

  it('answers a URL the router refuses (bad encoding, a parameter too long) in the envelope, naming the url', async () => {
    const { app } = await testService();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    for (const [url, status] of [
      ['/things/%E0%A4%A', 400],
      [`/things/${'x'.repeat(500)}`, 414],
    ] as const) {
      const res = await fetch(`${base}${url}`);
      expect(res.status, url).toBe(status);
      expect(await res.json(), url).toMatchObject({
        error: { code: 'VALIDATION_ERROR', details: { field: 'url' } },
      });
    }
    await app.close();
  });

  it('hides internals of unexpected errors and passes coded ones through', async () => {
    const { app } = await testService();
    const boom = await app.inject('/boom');
    expect(boom.statusCode).toBe(500);
    expect(boom.body).not.toContain('secret internals');
    expect(boom.json().error).toMatchObject({
      code: 'INTERNAL_ERROR',
      details: { requestId: boom.headers['x-request-id'] },
    });
    const conflict = await app.inject('/conflict');
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toEqual({
      error: { code: 'THING_CONFLICT', message: 'already there', details: { id: 'x' } },
    });
  });

  it('makes its own request id whatever the caller sends (finding 10)', async () => {
    const { app } = await testService();
    const chosen = await app.inject({ url: '/health', headers: { 'x-request-id': 'abc-123' } });
    expect(chosen.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((await app.inject('/health')).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('stops the lifecycle components in reverse order when closed', async () => {
    const { app, shutdown } = await testService();
    await app.close();
    expect(shutdown).toEqual(['last registered', 'first registered']);
  });
});
