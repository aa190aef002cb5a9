// Finding 5: the idea bank grew without limit, and every change rewrites its file. It now has a
// ceiling (count and bytes), a trader fills it only so far and writes shorter descriptions, and
// idea changes draw from their own per-key budget at the gateway.
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ROLE_HEADER } from '../src/kernel/auth/role-header.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { ideaBankService } from '../src/services/idea-bank/service.js';
import { tempHome } from './helpers/cli.js';

let open: ServiceContext[] = [];
afterEach(async () => {
  for (const ctx of open) await ctx.app.close();
  open = [];
});

async function ideaBank(env: Record<string, string> = {}) {
  const home = tempHome('ts-sec-ideas-');
  const config = loadConfig({
    env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__LOG__LEVEL: 'fatal', ...env },
    cwd: home,
  });
  const ctx = await buildService(ideaBankService, { config });
  open.push(ctx);
  return { app: ctx.app, file: path.join(home, 'db', 'ideas.json') };
}

const idea = (n: number, description = 'x'.repeat(50)) => ({
  title: `idea ${n}`,
  description,
  category: 'analise-dados',
});
type App = ServiceContext['app'];
const post = (app: App, body: object, role?: string) =>
  app.inject({
    method: 'POST',
    url: '/api/items',
    payload: body,
    headers: role ? { [ROLE_HEADER]: role } : {},
  });

describe('idea bank ceiling', () => {
  it('refuses a trader past its count with 409 IDEA_BANK_FULL, admins up to the ceiling', async () => {
    const { app } = await ideaBank({
      TRADINGSYSTEM__SERVICES__IDEA_BANK__MAX_IDEAS: '6',
      TRADINGSYSTEM__SERVICES__IDEA_BANK__TRADER_MAX_IDEAS: '4',
    });
    for (let i = 0; i < 4; i++) expect((await post(app, idea(i), 'trader')).statusCode).toBe(201);
    const full = await post(app, idea(4), 'trader');
    expect(full.statusCode, full.body).toBe(409);
    expect(full.json().error.code).toBe('IDEA_BANK_FULL');
    expect(full.json().error.message).toMatch(/holds 4 ideas.*4/);
    expect((await post(app, idea(4), 'admin')).statusCode).toBe(201);
    expect((await post(app, idea(5))).statusCode).toBe(201);
    expect((await post(app, idea(6), 'admin')).statusCode).toBe(409);
    // Changing an idea is never refused for the count.
    const first = (await app.inject('/api/items?limit=1')).json().data[0];
    const put = await app.inject({
      method: 'PUT',
      url: `/api/items/${first.id}`,
      payload: { priority: 'high' },
      headers: { [ROLE_HEADER]: 'trader' },
    });
    expect(put.statusCode).toBe(200);
  });

  it('refuses oversized ideas naming the field: 413 for a trader past its length, 400 past the schema', async () => {
    const { app } = await ideaBank();
    const long = await post(app, idea(1, 'y'.repeat(4_001)), 'trader');
    expect(long.statusCode, long.body).toBe(413);
    expect(long.json().error.details.field).toBe('description');
    expect((await post(app, idea(1, 'y'.repeat(4_001)), 'admin')).statusCode).toBe(201);
    const huge = await post(app, idea(2, 'y'.repeat(10_001)), 'admin');
    expect(huge.statusCode).toBe(400);
    expect(huge.json().error.details.field).toBe('description');
    const title = await post(app, { ...idea(3), title: 't'.repeat(201) }, 'trader');
    expect(title.statusCode).toBe(400);
    expect(title.json().error.details.field).toBe('title');
  });

  it('enforces the byte ceiling, so the file (rewritten on every change) stays bounded', async () => {
    const { app, file } = await ideaBank({ TRADINGSYSTEM__SERVICES__IDEA_BANK__MAX_BYTES: '60000' });
    let created = 0;
    let refused: { statusCode: number; json(): { error: { code: string } } } | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      const res = await post(app, idea(i, 'z'.repeat(9_000)), 'admin');
      if (res.statusCode === 201) created++;
      else refused = res;
    }
    expect(created).toBe(6);
    expect(refused?.statusCode).toBe(409);
    expect(refused?.json().error.code).toBe('IDEA_BANK_FULL');
    expect(statSync(file).size).toBeLessThan(70_000);
  });
});

describe('idea writes at the gateway', () => {
  it('draw from their own per-key budget and carry the role the key has, never the one a client claims', async () => {
    const http = await import('node:http');
    const { KeyStore } = await import('../src/kernel/auth/keys.js');
    const { gatewayService } = await import('../src/services/gateway/service.js');
    const seen: (string | undefined)[] = [];
    const servers = [0, 1, 2, 3].map(() =>
      http.createServer((req, res) => {
        seen.push(req.headers[ROLE_HEADER] as string | undefined);
        req.resume();
        req.on('end', () => {
          res.statusCode = 201;
          res.setHeader('content-type', 'application/json');
          res.end('{"data":{}}');
        });
      }),
    );
    for (const s of servers) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (i: number) =>
      String(((servers[i] as (typeof servers)[number]).address() as { port: number }).port);
    const home = tempHome('ts-sec-ideas-gw-');
    const config = loadConfig({
      env: {
        TRADINGSYSTEM_HOME: home,
        TRADINGSYSTEM__LOG__LEVEL: 'fatal',
        TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: port(0),
        TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: port(1),
        TRADINGSYSTEM__SERVICES__DOCS__PORT: port(2),
        TRADINGSYSTEM__SERVICES__ORDER_MANAGER__PORT: port(3),
        TRADINGSYSTEM__SERVICES__STREAM__ENABLED: 'false',
        TRADINGSYSTEM__SERVICES__GATEWAY__IDEA_WRITES_PER_MINUTE: '3',
      },
      cwd: home,
    });
    const ctx = await buildService(gatewayService, { config });
    open.push(ctx);
    const key = (await KeyStore.at(home).create('trader', 'trader')).key;
    const create = () =>
      ctx.app.inject({
        method: 'POST',
        url: '/api/v1/ideas',
        headers: { 'x-api-key': key, [ROLE_HEADER]: 'admin' },
        payload: idea(1),
      });
    for (let i = 0; i < 3; i++) expect((await create()).statusCode).toBe(201);
    expect((await create()).statusCode).toBe(429);
    expect(seen).toEqual(['trader', 'trader', 'trader']);
    // Reads keep their own, larger budget.
    expect((await ctx.app.inject({ url: '/api/v1/ideas', headers: { 'x-api-key': key } })).statusCode).toBe(
      201,
    );
    for (const s of servers) s.close();
  });
});
