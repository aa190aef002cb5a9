import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configEnv, freePort, type JsonBody, ROOT, Supervisors, tempHome, waitFor } from './helpers/cli.js';

/**
 * The gateway in a real browser (Debian's Chromium through playwright-core) in front of the real
 * system started by `tradingsystem start`: the sign-in page, the session cookie, CSRF, and /docs
 * rendering under the Content-Security-Policy.
 */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const supervisors = new Supervisors();
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium is not at ${CHROMIUM}: these tests drive a real browser. Install it (Debian: ` +
        '`sudo apt-get install -y chromium`, as .ci/run does) or set CHROMIUM_PATH to its executable.',
    );
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}, 30_000);
afterAll(async () => {
  await browser?.close();
});

async function startSystem() {
  const home = tempHome('ts-gwb-');
  const port = await freePort();
  const env = configEnv(home, {
    services: {
      'data-capture': { port: await freePort() },
      'order-manager': { port: await freePort() },
      stream: { enabled: false }, // not what this test is about
      gateway: { port, staticDir: path.join(home, 'no-dashboard') },
      'idea-bank': { port: await freePort() },
      docs: { port: await freePort(), dir: path.join(ROOT, 'docs') },
    },
    sim: { tradesPerSecond: 20 },
    log: { level: 'warn' },
    supervisor: { healthIntervalMs: 200, backoffInitialMs: 200, backoffMaxMs: 1_000 },
  });
  const run = supervisors.start(env);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    'every service healthy',
    async () => {
      if (run.child.exitCode !== null) throw new Error(`supervisor exited: ${run.output()}`);
      const res = await fetch(`${base}/health`);
      return res.ok && existsSync(path.join(home, 'gateway', 'initial-admin-key'));
    },
    40_000,
    200,
  );
  const adminKey = readFileSync(path.join(home, 'gateway', 'initial-admin-key'), 'utf8').trim();
  return { base, adminKey };
}

/** Console messages about the Content-Security-Policy: any means the page broke under it. */
function cspViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (/content security policy|refused to (load|execute|apply|connect)/i.test(m.text()))
      seen.push(m.text());
  });
  page.on('pageerror', (err) => seen.push(`page error: ${err.message}`));
  return seen;
}

describe('gateway in a browser', () => {
  it('signs in through the page, keeps the session out of scripts, needs CSRF for changes, and renders /docs', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} (apt-get install -y chromium)`).toBe(true);
    const { base, adminKey } = await startSystem();
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations = cspViolations(page);

    await page.goto(`${base}/`);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    // A wrong key: the page says why and stays signed out.
    await page.fill('#key', 'tsk_0123456789abcdef_wrong');
    await page.click('#sign-in button[type=submit]');
    await expect.poll(() => page.textContent('#error')).toContain('not valid');

    await page.fill('#key', adminKey);
    await page.click('#sign-in button[type=submit]');
    await page.locator('#session').waitFor({ state: 'visible' });
    expect(await page.textContent('#who')).toBe('initial-admin');
    await expect.poll(() => page.textContent('#status'), { timeout: 10_000 }).toMatch(/^(ok|degraded|down)$/);
    const health = JSON.parse((await page.textContent('#health')) ?? '{}') as JsonBody;
    expect(Object.keys(health.services).sort()).toEqual([
      'data-capture',
      'docs',
      'idea-bank',
      'order-manager',
    ]);

    // HttpOnly: the page's scripts cannot read the session; the browser holds it with its attributes.
    expect(await page.evaluate<string>('document.cookie')).not.toContain('ts_session');
    const [cookie] = (await context.cookies(base)).filter((c) => c.name === 'ts_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/', secure: false });

    // A state change from the page: refused without the CSRF token, done with it.
    const results = await page.evaluate(async () => {
      const idea = {
        title: 'From the browser',
        description: 'posted by the page',
        category: 'analise-dados',
      };
      const post = (headers: Record<string, string>) =>
        fetch('/api/v1/ideas', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(idea),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as JsonBody }));
      const session = (await (await fetch('/api/v1/session')).json()) as JsonBody;
      return {
        without: await post({}),
        withToken: await post({ 'x-csrf-token': session.csrfToken }),
        streamToken: await fetch('/api/v1/stream/token', {
          method: 'POST',
          headers: { 'x-csrf-token': session.csrfToken },
        }).then((r) => r.json() as Promise<JsonBody>),
      };
    });
    expect(results.without).toMatchObject({ status: 403, body: { error: { code: 'CSRF_TOKEN_INVALID' } } });
    expect(results.withToken.status).toBe(201);
    expect(results.withToken.body.data.title).toBe('From the browser');
    expect(results.streamToken.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/.*\?token=/);

    // Sign out: the page shows the form again and the cookie no longer works.
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => fetch('/api/v1/session').then((r) => r.status))).toBe(401);

    // The API docs render (swagger-ui's own scripts under its CSP) with every operation listed.
    await page.goto(`${base}/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
    expect(await page.locator('.opblock').count()).toBeGreaterThan(30);
    expect(
      await page.locator('.opblock-summary-path', { hasText: '/api/v1/session' }).count(),
    ).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    await context.close();
  }, 90_000);
});
