import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { IDEA_STATUSES, KANBAN_MOVES } from '../src/domain/ideas.js';
import { KeyStore } from '../src/kernel/auth/keys.js';
import { type Clock, ManualClock } from '../src/kernel/clock.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { ideaBankService } from '../src/services/idea-bank/service.js';
import { freePort, internalFetch, spawnCli, tempHome, waitFor } from './helpers/cli.js';

let open: ServiceContext[] = [];
afterEach(async () => {
  for (const ctx of open) await ctx.app.close();
  open = [];
});

async function ideaBank(home = tempHome('ts-ideas-'), clock?: Clock) {
  const config = loadConfig({
    env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__HTTP__BODY_LIMIT_BYTES: '65536' },
    cwd: home,
  });
  const ctx = await buildService(ideaBankService, { config, ...(clock && { clock }) });
  open.push(ctx);
  return { ...ctx, home, file: path.join(home, 'db', 'ideas.json') };
}

const idea = (over: Record<string, unknown> = {}) => ({
  title: 'Medir slippage no WINZ26',
  description: 'Comparar preço de sinal e preço executado por ordem',
  category: 'analise-dados',
  ...over,
});

type App = ServiceContext['app'];
async function create(app: App, body: object) {
  const res = await app.inject({ method: 'POST', url: '/api/items', payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().data as { id: string; status: string; tags: string[]; title: string };
}

describe('idea bank API', () => {
  it('creates, reads, updates and deletes an idea in the original response shape', async () => {
    const { app, file } = await ideaBank();
    const created = await create(
      app,
      idea({ title: '  Padded title  ', tags: ['b3', ' B3 ', 'risco', '  '] }),
    );
    expect(created).toMatchObject({ title: 'Padded title', status: 'new', tags: ['b3', 'risco'] });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);

    const got = await app.inject(`/api/items/${created.id}`);
    expect(got.json()).toEqual({ success: true, data: { ...created } });

    const put = await app.inject({
      method: 'PUT',
      url: `/api/items/${created.id}`,
      payload: { priority: 'high' },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json().data).toMatchObject({ priority: 'high', title: 'Padded title', status: 'new' });

    const list = await app.inject('/api/items');
    expect(list.json()).toMatchObject({
      success: true,
      count: 1,
      data: [{ id: created.id, priority: 'high' }],
    });

    const del = await app.inject({ method: 'DELETE', url: `/api/items/${created.id}` });
    expect(del.json()).toMatchObject({ success: true, data: { id: created.id } });
    expect((await app.inject(`/api/items/${created.id}`)).statusCode).toBe(404);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ items: [] });
  });

  it('answers 404 in the error envelope for unknown ids', async () => {
    const { app } = await ideaBank();
    const id = '00000000-0000-4000-8000-000000000000';
    for (const [method, payload] of [
      ['GET', undefined],
      ['PUT', { priority: 'low' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await app.inject({ method, url: `/api/items/${id}`, ...(payload && { payload }) });
      expect(res.statusCode, method).toBe(404);
      expect(res.json().error.code).toBe('NOT_FOUND');
    }
    const bad = await app.inject('/api/items/not-a-uuid');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.field).toBe('id');
  });

  it('filters by status, category, priority, tag and full text, and sorts and pages', async () => {
    const { app } = await ideaBank();
    const a = await create(
      app,
      idea({ title: 'Análise de liquidez', category: 'analise-dados', priority: 'low', tags: ['win'] }),
    );
    const b = await create(
      app,
      idea({
        title: 'Backup Parquet',
        description: 'Rotina noturna',
        category: 'banco-dados',
        priority: 'critical',
        tags: ['ops', 'Win'],
      }),
    );
    const c = await create(
      app,
      idea({
        title: 'Painel de risco',
        description: 'Dashboard com limites',
        category: 'dashboard',
        priority: 'medium',
      }),
    );
    await app.inject({ method: 'PUT', url: `/api/items/${c.id}`, payload: { status: 'review' } });

    const ids = async (qs: string) =>
      ((await app.inject(`/api/items?${qs}`)).json().data as { id: string }[]).map((i) => i.id);
    expect(await ids('status=review')).toEqual([c.id]);
    expect(await ids('category=banco-dados')).toEqual([b.id]);
    expect(await ids('priority=low')).toEqual([a.id]);
    expect((await ids('tag=win')).sort()).toEqual([a.id, b.id].sort());
    expect(await ids('q=analise')).toEqual([a.id]); // accent-insensitive
    expect(await ids('q=NOTURNA')).toEqual([b.id]); // description, case-insensitive
    expect(await ids('q=rotina%20parquet')).toEqual([b.id]); // every word
    expect(await ids('sort=-priority')).toEqual([b.id, c.id, a.id]);
    expect(await ids('sort=priority')).toEqual([a.id, c.id, b.id]);
    expect(await ids('sort=title')).toEqual([a.id, b.id, c.id]);
    expect(await ids('sort=title&limit=1&offset=1')).toEqual([b.id]);
    const paged = (await app.inject('/api/items?sort=title&limit=2')).json();
    expect(paged).toMatchObject({ count: 2, total: 3 });

    for (const qs of [
      'status=done',
      'category=x',
      'priority=urgent',
      'limit=0',
      'limit=5000',
      'offset=-1',
      'sort=color',
      'extra=1',
    ]) {
      const res = await app.inject(`/api/items?${qs}`);
      expect(res.statusCode, qs).toBe(400);
      expect(res.json().error.code, qs).toBe('VALIDATION_ERROR');
    }
  });

  it('allows exactly the Kanban moves and answers a forbidden one with 409 naming the allowed targets', async () => {
    const { app } = await ideaBank();
    // Reach each status along allowed paths, then try every target from it.
    const pathTo: Record<string, string[]> = {
      new: [],
      review: ['review'],
      'in-progress': ['in-progress'],
      completed: ['in-progress', 'completed'],
      rejected: ['review', 'rejected'],
    };
    for (const from of IDEA_STATUSES) {
      for (const to of IDEA_STATUSES) {
        if (from === to) continue;
        const item = await create(app, idea());
        for (const step of pathTo[from] ?? []) {
          const r = await app.inject({
            method: 'PUT',
            url: `/api/items/${item.id}`,
            payload: { status: step },
          });
          expect(r.statusCode).toBe(200);
        }
        const res = await app.inject({
          method: 'PUT',
          url: `/api/items/${item.id}`,
          payload: { status: to },
        });
        const allowed = KANBAN_MOVES[from];
        if (allowed.includes(to)) {
          expect(res.statusCode, `${from}->${to}`).toBe(200);
          expect(res.json().data.status).toBe(to);
        } else {
          expect(res.statusCode, `${from}->${to}`).toBe(409);
          expect(res.json().error).toMatchObject({
            code: 'INVALID_TRANSITION',
            details: { from, to, allowed: [...allowed] },
          });
          expect((await app.inject(`/api/items/${item.id}`)).json().data.status).toBe(from);
        }
      }
    }
  });

  it('rejects malformed JSON, wrong types, bad enums, blank text, unknown fields and oversized bodies', async () => {
    const { app, file } = await ideaBank();
    const cases: [string | object, string][] = [
      ['{"title": "x",', 'INVALID_JSON'],
      [idea({ title: 42 }), 'title'],
      [idea({ title: '   ' }), 'title'],
      [idea({ description: undefined }), 'description'],
      [idea({ category: 'marketing' }), 'category'],
      [idea({ priority: 'urgent' }), 'priority'],
      [idea({ status: 'completed' }), 'status'],
      [idea({ tags: 'b3' }), 'tags'],
      [idea({ tags: [1] }), 'tags[0]'],
      [idea({ owner: 'mallory' }), 'owner'],
      [idea({ title: 'x'.repeat(201) }), 'title'],
    ];
    for (const [payload, expected] of cases) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/items',
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      const { error } = res.json();
      if (expected === 'INVALID_JSON') expect(error.code).toBe('INVALID_JSON');
      else expect(error.details.field, JSON.stringify(payload)).toBe(expected);
    }
    const huge = await app.inject({
      method: 'POST',
      url: '/api/items',
      payload: idea({ description: 'x'.repeat(70_000) }),
    });
    expect(huge.statusCode).toBe(413);
    const item = await create(app, idea());
    const emptyPut = await app.inject({ method: 'PUT', url: `/api/items/${item.id}`, payload: {} });
    expect(emptyPut.statusCode).toBe(400);
    const idPut = await app.inject({ method: 'PUT', url: `/api/items/${item.id}`, payload: { id: 'x' } });
    expect(idPut.statusCode).toBe(400);
    expect(JSON.parse(readFileSync(file, 'utf8')).items).toHaveLength(1);
  });

  it('lands all of 100 parallel POSTs', async () => {
    const { app, file } = await ideaBank();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        app.inject({ method: 'POST', url: '/api/items', payload: idea({ title: `idea ${i}` }) }),
      ),
    );
    expect(results.every((r) => r.statusCode === 201)).toBe(true);
    const ids = new Set(results.map((r) => r.json().data.id));
    const onDisk = JSON.parse(readFileSync(file, 'utf8')).items as { id: string }[];
    expect(onDisk).toHaveLength(100);
    expect(new Set(onDisk.map((i) => i.id))).toEqual(ids);
    expect((await app.inject('/api/items?limit=1000')).json().count).toBe(100);
  });

  it('answers 503 and keeps nothing when the file cannot be written, then recovers', async () => {
    const { app, home, file } = await ideaBank();
    await create(app, idea({ title: 'kept' }));
    const db = path.join(home, 'db');
    renameSync(db, `${db}.moved`);
    writeFileSync(db, 'not a directory'); // every write now fails
    const res = await app.inject({ method: 'POST', url: '/api/items', payload: idea({ title: 'lost' }) });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('STORAGE_WRITE_FAILED');
    const titles = async () =>
      ((await app.inject('/api/items')).json().data as { title: string }[]).map((i) => i.title);
    expect(await titles()).toEqual(['kept']);
    rmSync(db);
    renameSync(`${db}.moved`, db);
    await create(app, idea({ title: 'after' }));
    expect((await titles()).sort()).toEqual(['after', 'kept']);
    expect(JSON.parse(readFileSync(file, 'utf8')).items).toHaveLength(2);
  });

  it('publishes item counts by status', async () => {
    const { app } = await ideaBank();
    const a = await create(app, idea());
    await create(app, idea());
    await app.inject({ method: 'PUT', url: `/api/items/${a.id}`, payload: { status: 'review' } });
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toContain('tradingsystem_idea_bank_items{status="new"} 1');
    expect(metrics).toContain('tradingsystem_idea_bank_items{status="review"} 1');
    expect(metrics).toContain('tradingsystem_idea_bank_items{status="completed"} 0');
  });
});

describe('idea bank: Idempotency-Key on create', () => {
  const post = (app: App, body: object, key?: string) =>
    app.inject({
      method: 'POST',
      url: '/api/items',
      payload: body,
      ...(key !== undefined && { headers: { 'idempotency-key': key } }),
    });
  const onDisk = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

  it('answers a retry with the idea the first request created (200), never a second idea', async () => {
    const { app, file } = await ideaBank();
    const first = await post(app, idea({ tags: ['b3'] }), 'retry-1');
    expect(first.statusCode, first.body).toBe(201);
    // The same idea, written differently (spaces, duplicate tag, explicit defaults), is the same request.
    const again = await post(
      app,
      idea({ title: ' Medir slippage no WINZ26 ', tags: ['b3', 'B3'], priority: 'medium', status: 'new' }),
      'retry-1',
    );
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual(first.json());
    // Without a key, or with another one, a POST creates.
    expect((await post(app, idea())).statusCode).toBe(201);
    expect((await post(app, idea(), 'retry-2')).statusCode).toBe(201);
    const disk = onDisk(file);
    expect(disk.items).toHaveLength(3);
    expect(disk.idempotency.map((k: { key: string; ideaId: string }) => [k.key, k.ideaId])).toEqual([
      ['retry-1', first.json().data.id],
      ['retry-2', expect.any(String)],
    ]);
  });

  it('creates once under 20 parallel POSTs with one key', async () => {
    const { app, file } = await ideaBank();
    const results = await Promise.all(Array.from({ length: 20 }, () => post(app, idea(), 'burst-1')));
    expect(results.map((r) => r.statusCode).sort()).toEqual([...Array(19).fill(200), 201]);
    expect(new Set(results.map((r) => r.json().data.id)).size).toBe(1);
    expect(onDisk(file).items).toHaveLength(1);
  });

  it('refuses the same key with another body (422 naming the fields), and a deleted idea (410)', async () => {
    const { app } = await ideaBank();
    const first = (await post(app, idea(), 'k-1')).json().data;
    const other = await post(app, idea({ title: 'Outra ideia', priority: 'high' }), 'k-1');
    expect(other.statusCode).toBe(422);
    expect(other.json().error).toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
      details: { field: 'idempotency-key', key: 'k-1', differs: ['title', 'priority'], ideaId: first.id },
    });
    expect(other.json().error.message).toMatch(/title, priority differ/);
    await app.inject({ method: 'DELETE', url: `/api/items/${first.id}` });
    const gone = await post(app, idea(), 'k-1');
    expect(gone.statusCode).toBe(410);
    expect(gone.json().error).toMatchObject({ code: 'IDEA_DELETED', details: { field: 'idempotency-key' } });
    expect((await app.inject('/api/items')).json().total).toBe(0);
  });

  it('rejects a malformed key with 400 naming the header, and creates nothing', async () => {
    const { app, file } = await ideaBank();
    for (const key of ['', 'x'.repeat(65), 'has space', 'ação', 'a,b', '../etc']) {
      const res = await post(app, idea(), key);
      expect(res.statusCode, key).toBe(400);
      expect(res.json().error, key).toMatchObject({
        code: 'VALIDATION_ERROR',
        details: { location: 'headers', field: 'idempotency-key' },
      });
    }
    expect((await post(app, idea(), `${'A'.repeat(60)}.:_-`)).statusCode).toBe(201);
    expect(onDisk(file).items).toHaveLength(1);
  });

  it('forgets a key after 24 hours, and drops it from the file at the next write', async () => {
    const clock = new ManualClock(Date.parse('2026-06-16T12:00:00Z'));
    const { app, file } = await ideaBank(tempHome('ts-ideas-'), clock);
    const first = (await post(app, idea(), 'day-1')).json().data;
    clock.advance(24 * 3_600_000 - 1);
    expect((await post(app, idea(), 'day-1')).json().data.id).toBe(first.id);
    clock.advance(1);
    const later = await post(app, idea({ title: 'Nova' }), 'day-1');
    expect(later.statusCode).toBe(201);
    expect(later.json().data.id).not.toBe(first.id);
    clock.advance(24 * 3_600_000);
    await post(app, idea(), 'day-2');
    expect(onDisk(file).idempotency.map((k: { key: string }) => k.key)).toEqual(['day-2']);
  });

  it('reports a garbled key section as down and keeps the file', async () => {
    const home = tempHome('ts-ideas-');
    mkdirSync(path.join(home, 'db'));
    const file = path.join(home, 'db', 'ideas.json');
    const content = JSON.stringify({ items: [], idempotency: [{ key: 'k', ideaId: 'nope' }] });
    writeFileSync(file, content);
    const { app } = await ideaBank(home);
    const health = await app.inject('/health');
    expect(health.statusCode).toBe(503);
    expect(health.json().checks.storage.detail).toMatch(/idempotency\[0\]/);
    await app.close();
    expect(readFileSync(file, 'utf8')).toBe(content);
  });

  it('works through the gateway: the header is passed on and documented in the OpenAPI', async () => {
    const { app: ideas, file } = await ideaBank();
    await ideas.listen({ host: '127.0.0.1', port: 0 });
    const home = tempHome('ts-ideas-gw-');
    const config = loadConfig({
      env: {
        TRADINGSYSTEM_HOME: home,
        TRADINGSYSTEM__LOG__LEVEL: 'warn',
        TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String((ideas.server.address() as AddressInfo).port),
        TRADINGSYSTEM__SERVICES__ORDER_MANAGER__ENABLED: 'false',
      },
      cwd: home,
    });
    const gw = await buildService(gatewayService, { config });
    open.push(gw);
    const { key } = await KeyStore.at(home).create('idea desk', 'trader');
    const send = (body: object, headers: Record<string, string> = {}) =>
      gw.app.inject({
        method: 'POST',
        url: '/api/v1/ideas',
        headers: { 'x-api-key': key, ...headers },
        payload: body,
      });
    const first = await send(idea(), { 'idempotency-key': 'gw-1' });
    const retry = await send(idea(), { 'idempotency-key': 'gw-1' });
    expect([first.statusCode, retry.statusCode]).toEqual([201, 200]);
    expect(retry.json().data.id).toBe(first.json().data.id);
    const reused = await send(idea({ category: 'dashboard' }), { 'idempotency-key': 'gw-1' });
    expect(reused.statusCode).toBe(422);
    expect(reused.json().error.details).toMatchObject({ field: 'idempotency-key', differs: ['category'] });
    const bad = await send(idea(), { 'idempotency-key': 'no spaces' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.field).toBe('idempotency-key');
    expect((await send(idea())).statusCode).toBe(201); // no key: a new idea, as before
    expect(onDisk(file).items).toHaveLength(2);

    const spec = (await gw.app.inject('/api/v1/openapi.json')).json();
    const params = spec.paths['/api/v1/ideas'].post.parameters as { in: string; name: string }[];
    expect(params).toContainEqual(expect.objectContaining({ in: 'header', name: 'idempotency-key' }));
  });

  it('answers a retry after a kill -9 and restart with the same idea; the count stays 1', async () => {
    const home = tempHome('ts-ideas-key-');
    const port = await freePort();
    const env = {
      ...process.env,
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(port),
    };
    const base = `http://127.0.0.1:${port}`;
    const call = internalFetch(home);
    const send = (body: object, key: string) =>
      call(`${base}/api/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      });
    let svc = spawnCli(['run', 'idea-bank'], env);
    await waitFor('idea bank up', async () => (await fetch(`${base}/health`)).ok);
    const first = await send(idea(), 'network-error-1');
    expect(first.status).toBe(201);
    const created = ((await first.json()) as { data: { id: string } }).data;
    svc.child.kill('SIGKILL');
    await svc.exited;

    svc = spawnCli(['run', 'idea-bank'], env);
    try {
      await waitFor('idea bank back', async () => (await fetch(`${base}/health`)).ok);
      const retry = await send(idea(), 'network-error-1');
      expect(retry.status).toBe(200);
      expect(((await retry.json()) as { data: { id: string } }).data).toEqual(created);
      const refused = await send(idea({ description: 'outra' }), 'network-error-1');
      expect(refused.status).toBe(422);
      const list = (await (await call(`${base}/api/items`)).json()) as { total: number };
      expect(list.total).toBe(1);
    } finally {
      svc.child.kill('SIGTERM');
      await svc.exited;
    }
  });
});

describe('idea bank storage faults', () => {
  it('does not overwrite a corrupt ideas.json: reports down with the runbook and keeps the file byte for byte', async () => {
    for (const content of [
      '{"items": [ {"id": "a", "title": ',
      '{"items": "nope"}',
      '{"items":[{"id":"x"}]}',
      '',
    ]) {
      const home = tempHome('ts-ideas-');
      mkdirSync(path.join(home, 'db'));
      const file = path.join(home, 'db', 'ideas.json');
      writeFileSync(file, content);
      const { app } = await ideaBank(home);
      const health = await app.inject('/health');
      expect(health.statusCode, content).toBe(503);
      expect(health.json().checks.storage).toMatchObject({
        status: 'down',
        runbook: 'runbooks/idea-bank-down',
      });
      const list = await app.inject('/api/items');
      expect(list.statusCode).toBe(503);
      expect(list.json().error.code).toBe('IDEA_BANK_UNAVAILABLE');
      const post = await app.inject({ method: 'POST', url: '/api/items', payload: idea() });
      expect(post.statusCode).toBe(503);
      await app.close();
      expect(readFileSync(file, 'utf8')).toBe(content);
    }
  });

  it('loses no acknowledged idea when killed with SIGKILL during a burst of writes', async () => {
    for (let round = 0; round < 2; round++) {
      const home = tempHome('ts-ideas-kill-');
      const port = await freePort();
      const env = {
        ...process.env,
        TRADINGSYSTEM_HOME: home,
        TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(port),
      };
      const base = `http://127.0.0.1:${port}`;
      const call = internalFetch(home);
      let svc = spawnCli(['run', 'idea-bank'], env);
      await waitFor('idea bank up', async () => (await fetch(`${base}/health`)).ok);

      const acknowledged: string[] = [];
      let stop = false;
      const writer = async (w: number) => {
        for (let i = 0; i < 200 && !stop; i++) {
          try {
            const res = await call(`${base}/api/items`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(idea({ title: `burst ${w}-${i}` })),
            });
            if (res.status === 201)
              acknowledged.push(((await res.json()) as { data: { id: string } }).data.id);
          } catch {
            return; // the process is gone
          }
        }
      };
      const writers = Array.from({ length: 16 }, (_, w) => writer(w));
      await waitFor('some writes acknowledged', () => acknowledged.length >= 150 + round * 50, 20_000, 5);
      svc.child.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await svc.exited;

      const file = path.join(home, 'db', 'ideas.json');
      const onDisk = JSON.parse(readFileSync(file, 'utf8')).items as { id: string }[]; // parses
      svc = spawnCli(['run', 'idea-bank'], env);
      await waitFor('idea bank back', async () => (await fetch(`${base}/health`)).ok);
      const served = (
        (await (await call(`${base}/api/items?limit=1000`)).json()) as { data: { id: string }[] }
      ).data;
      const servedIds = new Set(served.map((i) => i.id));
      const missing = acknowledged.filter((id) => !servedIds.has(id));
      expect(missing, `round ${round}`).toEqual([]);
      expect(served.length).toBe(onDisk.length);
      svc.child.kill('SIGTERM');
      expect(await svc.exited).toBe(0);
    }
  });
});
