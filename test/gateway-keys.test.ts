import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { KEYS_FILE_SHOWN_AS } from '../src/kernel/auth/keys.js';
import { buildService } from '../src/kernel/service.js';
import { gatewayService } from '../src/services/gateway/service.js';
import { streamService } from '../src/services/stream/service.js';
import { CLI, type CliResult, freePort, tempHome, waitFor } from './helpers/cli.js';

/**
 * The keys commands through the built CLI. `GATEWAY_TEST_CLI` points at another build (e.g.
 * `npx tsc -p tsconfig.build.json --outDir /tmp/gw-dist`) while dist/ may be stale.
 */
const cli = process.env.GATEWAY_TEST_CLI ?? CLI;
const run = (args: string[], home: string): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { ...process.env, TRADINGSYSTEM_HOME: home }, timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });

describe('tradingsystem keys', () => {
  it('creates, lists and revokes keys in the file a running gateway reads', async () => {
    const home = tempHome('ts-gw-cli-');
    const created = await run(['keys', 'create', '--role', 'trader', '--name', 'desk bot'], home);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^tsk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(`${home}/gateway/keys.json`, 'utf8')).not.toContain(key);

    const config = loadConfig({
      env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM__SERVICES__DOCS__PORT: String(await freePort()) },
      cwd: home,
    });
    const { app } = await buildService(gatewayService, { config });
    try {
      // Keys existed, so no first-start admin key.
      expect(() => readFileSync(`${home}/gateway/initial-admin-key`)).toThrow();
      const call = () => app.inject({ url: '/api/v1/docs', headers: { 'x-api-key': key } });
      expect((await call()).statusCode).toBe(503); // authenticated; docs is not running

      const listed = await run(['keys', 'list', '--json'], home);
      expect(listed.code).toBe(0);
      const keys = JSON.parse(listed.stdout) as Record<string, unknown>[];
      expect(keys).toEqual([expect.objectContaining({ name: 'desk bot', role: 'trader' })]);
      expect(listed.stdout).not.toMatch(/salt|hash|tsk_/);
      const id = String(keys[0]?.id);
      expect((await run(['keys', 'list'], home)).stdout).toContain(`${id}  trader  active`);

      const revoked = await run(['keys', 'revoke', id], home);
      expect(revoked.code, revoked.stderr).toBe(0);
      await waitFor('revoked key refused', async () => (await call()).statusCode === 401, 3_000, 50);
      expect((await run(['keys', 'list'], home)).stdout).toContain('revoked');
    } finally {
      await app.close();
    }
  });

  it('refuses bad arguments with usage and exit code 2', async () => {
    const home = tempHome('ts-gw-cli-');
    for (const args of [
      ['keys'],
      ['keys', 'create', '--role', 'root', '--name', 'x'],
      ['keys', 'create', '--role', 'viewer'],
    ]) {
      const res = await run(args, home);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toContain('usage');
    }
    const missing = await run(['keys', 'revoke', 'ffffffffffffffff'], home);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no API key');
  });

  it('reports a damaged keys file (gateway and stream): up, /health down, 503 for the API, the file never replaced', async () => {
    const home = tempHome('ts-gw-badkeys-');
    const file = `${home}/gateway/keys.json`;
    mkdirSync(`${home}/gateway`, { recursive: true });
    writeFileSync(file, '{"keys": [{"id": "0011');
    const config = loadConfig({ env: { TRADINGSYSTEM_HOME: home }, cwd: home });
    for (const service of [gatewayService, streamService]) {
      const { app } = await buildService(service, { config });
      try {
        const health = await app.inject({ url: '/health' });
        expect(health.statusCode, service.name).toBe(503);
        // Without a key the gateway names the failing check but not why; neither names the path.
        expect(health.body, service.name).not.toContain(file);
        if (service === streamService) {
          expect(health.json().checks.keys).toMatchObject({ status: 'down', file: KEYS_FILE_SHOWN_AS });
        } else {
          expect(health.json()).toEqual({
            status: 'down',
            service: 'gateway',
            pid: process.pid,
            checks: { keys: { status: 'down' } },
          });
        }
      } finally {
        await app.close();
      }
    }
    const { app } = await buildService(gatewayService, { config });
    try {
      const api = await app.inject({
        url: '/api/v1/orders',
        headers: { 'x-api-key': 'tsk_0011223344556677_x' },
      });
      expect(api.statusCode).toBe(503);
      expect(api.json().error.code).toBe('KEYS_UNAVAILABLE');
      expect(api.body).not.toContain(file);
    } finally {
      await app.close();
    }
    expect(readFileSync(file, 'utf8')).toBe('{"keys": [{"id": "0011');
    expect(existsSync(`${home}/gateway/initial-admin-key`)).toBe(false);
  });
});
