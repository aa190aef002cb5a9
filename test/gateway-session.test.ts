import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { KeyStore, type Role } from '../src/kernel/auth/keys.js';
import { TokenSigner } from '../src/kernel/auth/tokens.js';
import { ManualClock } from '../src/kernel/clock.js';
import { buildService, type ServiceContext } from '../src/kernel/service.js';
import { SIGN_IN_SCRIPT_PATH } from '../src/services/gateway/page.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { ideaBankService } from '../src/services/idea-bank/service.js';
import { type JsonBody, tempHome, waitFor } from './helpers/cli.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const running: ServiceContext[] = [];
let ideaPort = 0;
/** What inject sends as Host; a same-origin browser request names it in Origin. */
const HOST = 'gateway.test:8000';
const SAME_ORIGIN = `http://${HOST}`;
const IDEA = {
  title: 'Session idea',
  description: 'posted with a session cookie',
  category: 'analise-dados',
};

/** A gateway in this process in front of an idea bank; `env` overrides any config key. */
async function gateway(env: Record<string, string> = {}, clock?: ManualClock) {
  const home = tempHome('ts-gws-');
  const config = loadConfig({
    env: {
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'debug', // every request is logged: none may show a secret
      TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(ideaPort),
      TRADINGSYSTEM__SERVICES__ORDER_MANAGER__ENABLED: 'false',
      TRADINGSYSTEM__SERVICES__GATEWAY__AUTH_FAILURES_PER_MINUTE: '1000',
      // The name browsers use for it in these tests, and a tool's page allowed to call it.
      TRADINGSYSTEM__SERVICES__GATEWAY__ALLOWED_HOSTS: JSON.stringify([HOST]),
      TRADINGSYSTEM__SERVICES__GATEWAY__ALLOWED_ORIGINS: '["https://tool.example"]',
      ...env,
    },
    cwd: home,
  });
  const ctx = await buildService(gatewayService, { config, ...(clock && { clock }) });
  running.push(ctx);
  const store = KeyStore.at(home);
  const key = async (role: Role) => {
    const { key, record } = await store.create(`${role} browser`, role);
    return { key, id: record.id };
  };

  /** A request as a same-origin page would send it (Origin and Sec-Fetch-Site on changes). */
  const call = async (
    method: Method,
    url: string,
    opts: {
      cookie?: string;
      csrf?: string;
      apiKey?: string;
      headers?: Record<string, string>;
      payload?: object;
    } = {},
  ) => {
    const headers: Record<string, string> = { host: HOST, ...opts.headers };
    if (method !== 'GET') headers.origin ??= SAME_ORIGIN;
    if (opts.cookie) headers.cookie = opts.cookie;
    if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
    if (opts.apiKey) headers['x-api-key'] = opts.apiKey;
    const res = await ctx.app.inject({
      method,
      url,
      headers,
      ...(opts.payload !== undefined && { payload: opts.payload }),
    });
    const setCookie = res.headers['set-cookie'];
    return {
      status: res.statusCode,
      body: (res.body && String(res.headers['content-type']).includes('json')
        ? res.json()
        : null) as JsonBody,
      raw: res.body,
      headers: res.headers,
      setCookie: Array.isArray(setCookie) ? setCookie.join('\n') : (setCookie ?? ''),
    };
  };

  /** Signs in; returns the cookie to send back, the token in it and the CSRF token. */
  const login = async (k: string) => {
    const res = await call('POST', '/api/v1/session', { payload: { key: k } });
    expect(res.status, res.raw).toBe(200);
    const token = /^ts_session=([^;]+);/.exec(res.setCookie)?.[1] ?? '';
    expect(token).not.toBe('');
    return { cookie: `ts_session=${token}`, token, csrf: res.body.csrfToken as string, res };
  };
  return { app: ctx.app, home, store, key, call, login, signer: TokenSigner.at(home) };
}

beforeAll(async () => {
  const home = tempHome('ts-gws-up-');
  const config = loadConfig({
    env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__LOG__LEVEL: 'warn' },
    cwd: home,
  });
  const ideas = await buildService(ideaBankService, { config });
  running.push(ideas);
  await ideas.app.listen({ host: '127.0.0.1', port: 0 });
  ideaPort = (ideas.app.server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const ctx of running.reverse()) await ctx.app.close();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

describe('gateway: browser sessions', () => {
  it('signs in with a key: an HttpOnly, SameSite=Strict cookie for the whole site, and no secret in the answer', async () => {
    const { key, call, login } = await gateway({
      TRADINGSYSTEM__SERVICES__GATEWAY__SESSION_TTL_MS: '7200000',
    });
    const viewer = await key('viewer');
    const { cookie, token, csrf, res } = await login(viewer.key);
    const attrs = res.setCookie.split(';').map((a) => a.trim());
    expect(attrs).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=7200']));
    expect(attrs).not.toContain('Secure'); // plain http by default
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({
      key: { id: viewer.id, name: 'viewer browser', role: 'viewer' },
      via: 'session',
    });
    expect(Date.parse(res.body.expiresAt) - Date.now()).toBeGreaterThan(7_100_000);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.raw).not.toContain(token);
    expect(res.raw).not.toContain(viewer.key);

    // The cookie authenticates reads, here and through the proxy.
    const me = await call('GET', '/api/v1/session', { cookie });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ ...res.body });
    expect((await call('GET', '/api/v1/ideas', { cookie })).status).toBe(200);
    // The role still counts: a viewer session may not add ideas.
    const forbidden = await call('POST', '/api/v1/ideas', { cookie, csrf, payload: IDEA });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');

    // With a key instead: who, but no session fields.
    const byKey = await call('GET', '/api/v1/session', { apiKey: viewer.key });
    expect(byKey.body).toEqual({ key: res.body.key, via: 'key' });

    const secure = await gateway({ TRADINGSYSTEM__SERVICES__GATEWAY__SECURE_COOKIES: 'true' });
    const s = await secure.login((await secure.key('viewer')).key);
    expect(s.res.setCookie.split(';').map((a) => a.trim())).toContain('Secure');
  });

  it('answers a wrong key 401 at sign-in and counts it toward the failed-authentication limit', async () => {
    const { key, call } = await gateway({ TRADINGSYSTEM__SERVICES__GATEWAY__AUTH_FAILURES_PER_MINUTE: '3' });
    const good = (await key('viewer')).key;
    const signIn = (k: string) => call('POST', '/api/v1/session', { payload: { key: k } });
    for (const k of ['nope', `${good}x`]) {
      const res = await signIn(k);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHORIZED');
      expect(res.setCookie).toBe('');
    }
    // A wrong X-API-Key on another route counts toward the same limit.
    expect((await call('GET', '/api/v1/ideas', { apiKey: 'tsk_0123456789abcdef_nope' })).status).toBe(401);
    const blocked = await signIn(good);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('TOO_MANY_AUTH_FAILURES');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.setCookie).toBe('');
    // Malformed bodies are refused by the schema, unknown fields included.
    const extra = await call('POST', '/api/v1/session', { payload: { key: good, role: 'admin' } });
    expect(extra.status).toBe(400);
    expect(extra.body.error).toMatchObject({ code: 'VALIDATION_ERROR', details: { field: 'role' } });
  });

  it('needs the CSRF token on every state change made with the cookie, and none with a key', async () => {
    const { key, call, login } = await gateway();
    const trader = await key('trader');
    const { cookie, csrf } = await login(trader.key);
    const post = (opts: Parameters<typeof call>[2]) =>
      call('POST', '/api/v1/ideas', { payload: IDEA, ...opts });

    for (const [what, res] of [
      ['no token', await post({ cookie })],
      ['wrong token', await post({ cookie, csrf: `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` })],
      ['short token', await post({ cookie, csrf: 'x' })],
    ] as const) {
      expect(res.status, what).toBe(403);
      expect(res.body.error.code, what).toBe('CSRF_TOKEN_INVALID');
    }
    const created = await post({ cookie, csrf });
    expect(created.status, created.raw).toBe(201);
    const id = created.body.data.id as string;
    // PUT and DELETE too.
    const put = (csrfToken?: string) =>
      call('PUT', `/api/v1/ideas/${id}`, {
        cookie,
        payload: { priority: 'high' },
        ...(csrfToken && { csrf: csrfToken }),
      });
    expect((await put()).body.error.code).toBe('CSRF_TOKEN_INVALID');
    expect((await put(csrf)).status).toBe(200);
    expect((await call('DELETE', `/api/v1/ideas/${id}`, { cookie })).status).toBe(403);
    expect((await call('DELETE', `/api/v1/ideas/${id}`, { cookie, csrf })).status).toBe(200);

    // A key is never sent by a browser on its own: no CSRF token needed, and the key wins over a cookie.
    expect((await post({ apiKey: trader.key })).status).toBe(201);
    expect((await post({ apiKey: trader.key, cookie })).status).toBe(201);
    // Another session's CSRF token does not fit this one.
    const other = await login(trader.key);
    expect((await post({ cookie, csrf: other.csrf })).status).toBe(403);
  });

  it('refuses requests from a page of another origin, even with the cookie and CSRF token', async () => {
    const { key, call, login } = await gateway();
    const trader = await key('trader');
    const { cookie, csrf } = await login(trader.key);
    // Another Origin is refused for every request (finding 6), before the session is looked at.
    const cases: [string, Method, Record<string, string>, string][] = [
      ['other origin', 'POST', { origin: 'https://evil.example' }, 'ORIGIN_NOT_ALLOWED'],
      ['other port of the same host', 'POST', { origin: 'http://gateway.test:3000' }, 'ORIGIN_NOT_ALLOWED'],
      ['opaque origin', 'POST', { origin: 'null' }, 'ORIGIN_NOT_ALLOWED'],
      ['cross-site fetch', 'POST', { 'sec-fetch-site': 'cross-site' }, 'CROSS_SITE_REFUSED'],
      ['same-site fetch', 'POST', { 'sec-fetch-site': 'same-site' }, 'CROSS_SITE_REFUSED'],
      ['cross-site read', 'GET', { 'sec-fetch-site': 'cross-site' }, 'CROSS_SITE_REFUSED'],
    ];
    for (const [what, method, headers, code] of cases) {
      const res = await call(method, '/api/v1/ideas', {
        cookie,
        csrf,
        headers,
        payload: method === 'POST' ? IDEA : undefined,
      });
      expect(res.status, what).toBe(403);
      expect(res.body.error.code, what).toBe(code);
    }
    // Same origin, a typed URL, or no such headers (not a browser): allowed.
    const allowed: Record<string, string>[] = [
      { 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'none' },
      {},
    ];
    for (const headers of allowed) {
      expect((await call('GET', '/api/v1/ideas', { cookie, headers })).status).toBe(200);
    }
    // Signing in from another site is refused too (no logging a victim into the attacker's key).
    const signIn = await call('POST', '/api/v1/session', {
      payload: { key: trader.key },
      headers: { origin: 'https://evil.example' },
    });
    expect(signIn.status).toBe(403);
    expect(signIn.setCookie).toBe('');
    // A page of an origin in services.gateway.allowedOrigins may call with a key.
    expect(
      (
        await call('GET', '/api/v1/ideas', {
          apiKey: trader.key,
          headers: { origin: 'https://tool.example' },
        })
      ).status,
    ).toBe(200);
  });

  it('signs out: clears the cookie, and the old cookie no longer works', async () => {
    const { key, call, login } = await gateway();
    const { cookie, csrf } = await login((await key('viewer')).key);
    expect((await call('DELETE', '/api/v1/session', { cookie })).status).toBe(403); // CSRF
    const out = await call('DELETE', '/api/v1/session', { cookie, csrf });
    expect(out.status).toBe(204);
    expect(out.setCookie).toMatch(/^ts_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
    const after = await call('GET', '/api/v1/session', { cookie });
    expect(after.status).toBe(401);
    expect(after.setCookie).toContain('Max-Age=0');
    expect((await call('GET', '/api/v1/session')).status).toBe(401);
  });

  it('ends the sessions of a revoked key', async () => {
    const { key, call, login, store } = await gateway();
    const viewer = await key('viewer');
    const { cookie } = await login(viewer.key);
    expect((await call('GET', '/api/v1/ideas', { cookie })).status).toBe(200);
    expect(await store.revoke(viewer.id)).toBe(true);
    await waitFor(
      'session of a revoked key refused',
      async () => (await call('GET', '/api/v1/ideas', { cookie })).status === 401,
      3_000,
      50,
    );
  });

  it('refuses an expired, tampered or wrong-purpose token in the cookie', async () => {
    const clock = new ManualClock();
    const { key, call, login, signer } = await gateway(
      { TRADINGSYSTEM__SERVICES__GATEWAY__SESSION_TTL_MS: '60000' },
      clock,
    );
    const viewer = await key('viewer');
    const { cookie, token } = await login(viewer.key);
    expect((await call('GET', '/api/v1/session', { cookie })).status).toBe(200);

    const [body = '', mac = ''] = token.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { exp: number };
    const longer = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86_400_000 })).toString(
      'base64url',
    );
    const flipped = `${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`;
    const stream = signer.issue(viewer.id, 'stream', 60_000).token;
    for (const [what, forged] of [
      ['extended expiry', `${longer}.${mac}`],
      ['changed signature', `${body}.${flipped}`],
      ['garbage', 'not-a-token'],
      ['stream token as session', stream],
    ]) {
      const res = await call('GET', '/api/v1/session', { cookie: `ts_session=${forged}` });
      expect(res.status, what).toBe(401);
      expect(res.body.error.code, what).toBe('UNAUTHORIZED');
    }
    // The session token is no API key either.
    expect((await call('GET', '/api/v1/session', { apiKey: token })).status).toBe(401);

    clock.advance(59_000);
    expect((await call('GET', '/api/v1/session', { cookie })).status).toBe(200);
    clock.advance(1_000);
    const expired = await call('GET', '/api/v1/session', { cookie });
    expect(expired.status).toBe(401);
    expect(expired.setCookie).toContain('Max-Age=0');
  });

  it('issues one-minute stream tokens a TokenSigner verifies for the stream only', async () => {
    const { key, call, login, signer, app } = await gateway();
    const viewer = await key('viewer');
    const before = Date.now();
    const res = await call('POST', '/api/v1/stream/token', { apiKey: viewer.key });
    expect(res.status, res.raw).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const { token, expiresAt, url } = res.body as { token: string; expiresAt: string; url: string };
    expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'token', 'url']);
    expect(signer.verify(token, 'stream')).toMatchObject({ kid: viewer.id, purpose: 'stream' });
    expect(signer.verify(token, 'session')).toBeNull();
    const ttl = Date.parse(expiresAt) - before;
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(61_000);
    const stream = loadConfig({ env: {}, cwd: '/' }).services.stream;
    expect(url).toBe(`ws://gateway.test:${stream.port}${stream.path}?token=${token}`);
    // A stream token opens nothing at the gateway.
    expect((await call('GET', '/api/v1/session', { cookie: `ts_session=${token}` })).status).toBe(401);

    // From a browser session: the CSRF token is needed, as for any POST.
    const { cookie, csrf } = await login(viewer.key);
    expect((await call('POST', '/api/v1/stream/token', { cookie })).body.error.code).toBe(
      'CSRF_TOKEN_INVALID',
    );
    const fromSession = await call('POST', '/api/v1/stream/token', { cookie, csrf });
    expect(fromSession.status).toBe(200);
    expect(signer.verify(fromSession.body.token, 'stream')?.kid).toBe(viewer.id);
    // No credential: 401; no input accepted but an empty object.
    expect((await call('POST', '/api/v1/stream/token')).status).toBe(401);
    expect((await call('POST', '/api/v1/stream/token', { apiKey: viewer.key, payload: {} })).status).toBe(
      200,
    );
    const extra = await call('POST', '/api/v1/stream/token', { apiKey: viewer.key, payload: { ttlMs: 1e9 } });
    expect(extra.status).toBe(400);

    // Documented, with the cookie as a second way in.
    const doc = (await app.inject('/api/v1/openapi.json')).json();
    expect(doc.components.securitySchemes.session).toMatchObject({ in: 'cookie', name: 'ts_session' });
    expect(doc.paths['/api/v1/stream/token'].post).toBeDefined();
    expect(doc.paths['/api/v1/session'].post.security).toBeUndefined();
    expect(doc.paths['/api/v1/session'].get.security).toEqual([{ apiKey: [] }, { session: [] }]);
  });

  it('never writes a session token or key to a file in the data home', async () => {
    const { key, call, login, home, app } = await gateway();
    const trader = await key('trader');
    const { cookie, token, csrf } = await login(trader.key);
    await call('GET', '/api/v1/ideas', { cookie });
    await call('POST', '/api/v1/ideas', { cookie, payload: IDEA }); // 403: logged as a rejection
    await call('POST', '/api/v1/ideas', {
      cookie,
      csrf,
      headers: { origin: 'https://evil.example' },
      payload: IDEA,
    });
    await call('GET', '/api/v1/session', { cookie: `ts_session=${token}x` }); // 401
    await call('POST', '/api/v1/session', { payload: { key: `${trader.key}x` } }); // 401
    await call('DELETE', '/api/v1/session', { cookie, csrf });
    app.log.info({ req: { headers: { cookie } } }, 'headers probe');
    const files = filesUnder(home).filter((f) => !f.endsWith('token-secret'));
    expect(files.some((f) => f.includes(`${path.sep}logs${path.sep}`))).toBe(true);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const secret of [token, token.split('.')[1] ?? token, trader.key, trader.key.slice(-43)]) {
        expect(text.includes(secret), f).toBe(false);
      }
    }
  });

  it('serves the sign-in page with its script under a CSP without inline scripts, or the dashboard build', async () => {
    const { call } = await gateway({ TRADINGSYSTEM__SERVICES__GATEWAY__STATIC_DIR: '/nonexistent/web/dist' });
    const page = await call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.raw).toContain(`<script src="${SIGN_IN_SCRIPT_PATH}" defer></script>`);
    expect(page.raw).not.toMatch(/<script>|<script [^s]|\son\w+=/); // no inline script or handler
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/(^|;)script-src 'self'(;|$)/); // this origin's files only: no inline script
    expect(csp).toContain("script-src-attr 'none'");
    // Plain http to a non-loopback address would turn every file request into https (seen in Chromium).
    expect(csp).not.toContain('upgrade-insecure-requests');
    const docsCsp = String((await call('GET', '/docs/')).headers['content-security-policy']);
    expect(docsCsp).toMatch(/script-src 'self'\s*;/);
    expect(docsCsp).toContain("style-src 'self' https: 'unsafe-inline'"); // swagger-ui sets inline styles
    expect(docsCsp).not.toContain('upgrade-insecure-requests');
    const script = await call('GET', SIGN_IN_SCRIPT_PATH);
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toContain('text/javascript');
    expect(script.raw).toContain("'/api/v1/session'");

    const dist = path.join(tempHome('ts-gws-web-'), 'dist');
    mkdirSync(path.join(dist, 'assets'), { recursive: true });
    writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>Dashboard</title>');
    writeFileSync(path.join(dist, 'assets', 'app.js'), 'console.log(1)');
    const built = await gateway({ TRADINGSYSTEM__SERVICES__GATEWAY__STATIC_DIR: dist });
    const index = await built.call('GET', '/');
    expect(index.status).toBe(200);
    expect(index.raw).toContain('<title>Dashboard</title>');
    expect(index.headers['content-security-policy']).toBeDefined();
    writeFileSync(path.join(dist, 'assets', 'later.js'), 'console.log(2)'); // a rebuild: no restart needed
    expect((await built.call('GET', '/assets/later.js')).raw).toBe('console.log(2)');
    expect((await built.call('GET', '/assets/missing.js')).status).toBe(404);
    const unknown = await built.call('GET', '/api/v1/nothing');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
    expect((await built.call('GET', '/api/v1/ideas')).status).toBe(401);
    expect((await built.call('GET', '/docs/')).status).toBe(200);
  });
});
