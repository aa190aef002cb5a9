import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ManualClock } from '../src/kernel/clock.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { docsService } from '../src/services/docs/service.js';
import { tempHome, waitFor } from './helpers/cli.js';

const REAL_HANDBOOK = fileURLToPath(new URL('../docs', import.meta.url));
const NOW = Date.parse('2025-06-01T15:00:00Z');
const SECRET = 'TOP SECRET do not serve';

const fm = (...lines: string[]) => `---\n${lines.join('\n')}\n---\n`;

const FIXTURE: Record<string, string> = {
  'intro.md': `${fm(
    'title: Welcome',
    'sidebar_position: 1',
    'domain: shared',
    'type: guide',
    'tags: [onboarding]',
    'status: active',
    'summary: Start here',
    'last_review: 2025-05-20',
  )}# Welcome\n\nHow the platform is laid out.\n`,
  'runbooks/broker-connection-lost.md': `${fm(
    'title: Broker connection lost',
    'sidebar_position: 2',
    'domain: ops',
    'type: runbook',
    'tags: [broker, incident]',
    'status: active',
    'last_review: 2025-01-01',
  )}When the feed stops, check the session.\n`,
  'backend/order-flow.md': `${fm(
    'title: Order flow',
    'sidebar_position: 2',
    'domain: backend',
    'type: reference',
    'tags: [orders]',
    'status: deprecated',
  )}Orders go through risk first. ${'Filler words about risk limits. '.repeat(12)}
If the broker rejects an order, the order manager retries once.\n`,
  'frontend/charts.md': `${fm('title: Charts', 'domain: frontend', 'type: guide', 'tags: [ui]', 'status: draft')}
Candles and volume.\n`,
  'unsafe.md': `${fm('title: Unsafe', 'sidebar_position: 9')}Hello

<script>alert(1)</script>

<a href="javascript:alert(2)" onclick="steal()">click</a>\n`,
  'broken/no-frontmatter.md': '# Forgot the frontmatter\n',
  'broken/wrong-enum.md': `${fm('title: Wrong', 'domain: finance')}x\n`,
  'broken/bad-date.md': `${fm('title: Bad date', 'last_review: 2025-02-30')}x\n`,
};

const running: ServiceContext[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((ctx) => ctx.app.close()));
});

/** A temp home holding `handbook/` (the served folder) and secrets right next to it. */
function fixture(files: Record<string, string> = FIXTURE): { home: string; dir: string } {
  const home = tempHome('ts-docs-');
  const dir = path.join(home, 'handbook');
  for (const [rel, content] of Object.entries(files)) write(dir, rel, content);
  writeFileSync(path.join(home, 'secret.txt'), SECRET);
  writeFileSync(path.join(home, 'secret.md'), `---\ntitle: Secret\n---\n${SECRET}\n`);
  return { home, dir };
}

function write(dir: string, rel: string, content: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), content);
}

async function start(dir: string, home = tempHome('ts-docs-')): Promise<ServiceContext> {
  const config = loadConfig({
    env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__SERVICES__DOCS__DIR: dir },
    cwd: home,
  });
  const ctx = await buildService(docsService, { config, clock: new ManualClock(NOW) });
  running.push(ctx);
  return ctx;
}

/** A GET over a real socket, so paths like `/../` reach the server exactly as written. */
async function rawGet(ctx: ServiceContext, rawPath: string): Promise<{ status: number; body: string }> {
  if (!ctx.app.server.listening) await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = ctx.app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: rawPath }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('docs service: listing and pages', () => {
  it('lists valid pages sorted by sidebar position then title, with their metadata', async () => {
    const { app } = await start(fixture().dir);
    const res = await app.inject('/api/docs');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.count).toBe(5);
    expect(body.data.map((d: { slug: string }) => d.slug)).toEqual([
      'intro',
      'runbooks/broker-connection-lost',
      'backend/order-flow',
      'unsafe',
      'frontend/charts',
    ]);
    expect(body.data[0]).toEqual({
      slug: 'intro',
      title: 'Welcome',
      domain: 'shared',
      type: 'guide',
      tags: ['onboarding'],
      status: 'active',
      summary: 'Start here',
      last_review: '2025-05-20',
      sidebar_position: 1,
    });
  });

  it.each([
    ['domain=ops', ['runbooks/broker-connection-lost']],
    ['domain=frontend', ['frontend/charts']],
    ['type=guide', ['intro', 'frontend/charts']],
    ['tag=broker', ['runbooks/broker-connection-lost']],
    ['tag=UI', ['frontend/charts']],
    ['status=deprecated', ['backend/order-flow']],
    ['status=active&domain=shared', ['intro']],
    ['type=nothing', []],
  ])('filters the list by %s', async (query, slugs) => {
    const { app } = await start(fixture().dir);
    const body = (await app.inject(`/api/docs?${query}`)).json();
    expect(body.data.map((d: { slug: string }) => d.slug)).toEqual(slugs);
    expect(body.count).toBe(slugs.length);
  });

  it.each([
    ['domain=finance', 'domain'],
    ['status=done', 'status'],
    ['colour=blue', 'colour'],
  ])('refuses a bad list query (%s) with 400 naming the field', async (query, field) => {
    const { app } = await start(fixture().dir);
    const res = await app.inject(`/api/docs?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'VALIDATION_ERROR', details: { field } });
  });

  it('serves a nested page with its frontmatter, markdown and rendered HTML', async () => {
    const { app } = await start(fixture().dir);
    const res = await app.inject('/api/docs/runbooks/broker-connection-lost');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.slug).toBe('runbooks/broker-connection-lost');
    expect(body.frontmatter).toMatchObject({ title: 'Broker connection lost', tags: ['broker', 'incident'] });
    expect(body.markdown).toBe('When the feed stops, check the session.\n');
    expect(body.html).toBe('<p>When the feed stops, check the session.</p>\n');
  });

  it('strips scripts, event handlers and javascript: links from the HTML', async () => {
    const { app } = await start(fixture().dir);
    const { html, markdown } = (await app.inject('/api/docs/unsafe')).json();
    expect(markdown).toContain('<script>');
    expect(html).toContain('click');
    expect(html).not.toMatch(/<script|alert\(1\)|onclick|javascript:/i);
  });

  it('answers an unknown page with 404 NOT_FOUND', async () => {
    const { app } = await start(fixture().dir);
    const res = await app.inject('/api/docs/runbooks/nope');
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({ code: 'NOT_FOUND', details: { id: 'runbooks/nope' } });
    expect((await app.inject('/api/docs/broken/wrong-enum')).statusCode).toBe(404);
  });
});

describe('docs service: search', () => {
  it('ranks a title match above a body match and shows the term in the snippet', async () => {
    const { app } = await start(fixture().dir);
    const res = await app.inject('/api/docs/search?q=broker');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.query).toBe('broker');
    expect(body.data.map((h: { slug: string }) => h.slug)).toEqual([
      'runbooks/broker-connection-lost',
      'backend/order-flow',
    ]);
    expect(body.data[0].score).toBeGreaterThan(body.data[1].score);
    const { snippet } = body.data[1];
    expect(snippet).toContain('broker rejects an order');
    expect(snippet.length).toBeLessThanOrEqual(170);
  });

  it('finds by prefix and typo, honours limit, and counts searches in /metrics', async () => {
    const { app } = await start(fixture().dir);
    expect((await app.inject('/api/docs/search?q=candl')).json().data[0].slug).toBe('frontend/charts');
    expect((await app.inject('/api/docs/search?q=sesion')).json().data[0].slug).toBe(
      'runbooks/broker-connection-lost',
    );
    expect((await app.inject('/api/docs/search?q=broker&limit=1')).json().count).toBe(1);
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toContain('tradingsystem_docs_searches_total 3');
    expect(metrics).toContain('tradingsystem_docs_search_duration_seconds_count 3');
    expect(metrics).toContain('tradingsystem_docs_documents{status="valid"} 5');
    expect(metrics).toContain('tradingsystem_docs_documents{status="invalid"} 3');
  });

  it.each(['', '?q=', '?q=%20%20', '?q=x&limit=0', '?q=x&limit=abc'])(
    'refuses a missing or bad query (%j) with 400',
    async (query) => {
      const { app } = await start(fixture().dir);
      const res = await app.inject(`/api/docs/search${query}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
      expect(res.json().error.details.field).toBe(query.includes('limit') ? 'limit' : 'q');
    },
  );
});

describe('docs service: health', () => {
  it('reports invalid frontmatter per field and stale pages by the service clock', async () => {
    const { app } = await start(fixture().dir);
    const body = (await app.inject('/api/docs/health')).json();
    expect(body.reviewMaxAgeDays).toBe(90);
    expect(body.count).toBe(5);
    expect(body.invalid).toEqual([
      { file: 'broken/bad-date.md', errors: ['last_review must match format "date"'] },
      { file: 'broken/no-frontmatter.md', errors: [expect.stringContaining('frontmatter is missing')] },
      { file: 'broken/wrong-enum.md', errors: ['domain must be one of frontend, backend, ops, shared'] },
    ]);
    expect(body.stale).toEqual([
      { slug: 'runbooks/broker-connection-lost', last_review: '2025-01-01', ageDays: 151 },
    ]);
    const health = (await app.inject('/health')).json();
    expect(health.checks.handbook).toMatchObject({ status: 'degraded', documents: 5, invalid: 3 });
  });

  it('is ok when every page is valid', async () => {
    const { app } = await start(fixture({ 'a.md': FIXTURE['intro.md'] ?? '' }).dir);
    const health = (await app.inject('/health')).json();
    expect(health.status).toBe('ok');
    expect(health.checks.handbook).toEqual({ status: 'ok', documents: 1, invalid: 0 });
  });

  it('starts with an empty index and a degraded check when the folder is missing', async () => {
    const { home } = fixture({});
    const { app } = await start(path.join(home, 'not-there'), home);
    expect((await app.inject('/api/docs')).json()).toEqual({ count: 0, data: [] });
    const health = (await app.inject('/health')).json();
    expect(health.checks.handbook).toMatchObject({ status: 'degraded', detail: /does not exist/ });
  });
});

describe('docs service: path traversal', () => {
  const encoded = [
    '/api/docs/%2e%2e%2fsecret',
    '/api/docs/%2E%2E%2Fsecret',
    '/api/docs/%252e%252e%252fsecret',
    '/api/docs/%25252e%25252e%25252fsecret',
    '/api/docs/%2Fetc%2Fpasswd',
    '/api/docs/..%2fsecret',
    '/api/docs/..%5csecret',
    '/api/docs/intro%00',
    '/api/docs/runbooks%2f..%2f..%2fsecret',
  ];
  it.each(encoded)('refuses %s with 400 INVALID_SLUG', async (url) => {
    const { app } = await start(fixture().dir);
    const res = await app.inject(url);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('INVALID_SLUG');
    expect(res.body).not.toContain(SECRET);
  });

  // Sent over a socket: an HTTP client library would normalise these before they left.
  it.each([
    '/api/docs/../secret',
    '/api/docs/runbooks/../../secret',
    '/api/docs/..',
    '/api/docs//etc/passwd',
    '/api/docs/..\\secret',
    '/api/docs/%2e%2e/secret.txt',
  ])('refuses the raw path %s with 400 INVALID_SLUG', async (rawPath) => {
    const ctx = await start(fixture().dir);
    const res = await rawGet(ctx, rawPath);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('INVALID_SLUG');
    expect(res.body).not.toContain(SECRET);
  });
});

describe('docs service: reload', () => {
  it('picks up added, changed and deleted pages without a restart', async () => {
    const { dir } = fixture({ 'a.md': `${fm('title: First')}one\n` });
    const { app } = await start(dir);
    const titles = async () =>
      ((await app.inject('/api/docs')).json().data as { title: string }[]).map((d) => d.title).join(',');
    expect(await titles()).toBe('First');

    write(dir, 'new/b.md', `${fm('title: Second')}two\n`);
    await waitFor('added page', async () => (await titles()) === 'First,Second', 5_000, 50);
    write(dir, 'a.md', `${fm('title: Renamed')}one\n`);
    await waitFor('changed page', async () => (await titles()) === 'Renamed,Second', 5_000, 50);
    expect((await app.inject('/api/docs/search?q=renamed')).json().data[0].slug).toBe('a');
    rmSync(path.join(dir, 'new', 'b.md'));
    await waitFor('deleted page', async () => (await titles()) === 'Renamed', 5_000, 50);
    expect((await app.inject('/api/docs/new/b')).statusCode).toBe(404);
    write(dir, 'bad.md', 'no frontmatter\n');
    await waitFor(
      'invalid page',
      async () => (await app.inject('/api/docs/health')).json().invalid.length === 1,
      5_000,
      50,
    );
  });
});

describe('the real handbook', () => {
  it('has at least one page and every page has valid frontmatter', async () => {
    const { app } = await start(REAL_HANDBOOK);
    const body = (await app.inject('/api/docs/health')).json();
    expect(body.invalid).toEqual([]);
    expect(body.count).toBeGreaterThan(0);
  });
});
