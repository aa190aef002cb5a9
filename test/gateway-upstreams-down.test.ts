import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts, type JsonBody, type Running, spawnCli, tempHome, waitFor } from './helpers/cli.js';

/**
 * The real services as separate processes (no supervisor, so nothing restarts behind the test's
 * back): each upstream is killed with SIGKILL in turn while the gateway keeps answering.
 */
const UPSTREAMS = ['data-capture', 'order-manager', 'stream', 'idea-bank', 'docs'] as const;
type Upstream = (typeof UPSTREAMS)[number];

/** One gateway route served by each upstream (the stream has none: it shows in /health only). */
const PROBES: Partial<Record<Upstream, string>> = {
  'data-capture': '/api/v1/gaps',
  'order-manager': '/api/v1/orders?limit=1',
  'idea-bank': '/api/v1/ideas',
  docs: '/api/v1/docs',
};

const home = tempHome('ts-gw-down-');
const ports: Record<string, number> = {};
const running = new Map<string, Running>();
let env: NodeJS.ProcessEnv = {};

/** Started and answering /health; one that exits first, or never answers, fails with its output. */
async function startService(name: string): Promise<void> {
  const run = spawnCli(['run', name], env);
  running.set(name, run);
  const up = waitFor(
    `${name} up`,
    async () => (await fetch(`http://127.0.0.1:${ports[name]}/health`)).status < 500,
    30_000,
  );
  const exited = run.exited.then((code) => {
    throw new Error(`${name} exited with ${code} before answering`);
  });
  exited.catch(() => {}); // once it is up, the test's own kill later is no failure
  try {
    await Promise.race([up, exited]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${name} said:\n${run.output().slice(-4_000)}`);
  }
}

async function kill(name: string): Promise<void> {
  const run = running.get(name);
  run?.child.kill('SIGKILL');
  await run?.exited;
  running.delete(name);
}

afterAll(async () => {
  for (const name of [...running.keys()]) await kill(name);
});

describe('gateway with its upstreams killed in turn', () => {
  it('names the dead upstream in a quick 503, keeps serving the others, and recovers when it is back', async () => {
    // Picked together: one at a time, the OS may hand out a port twice, and the clash stops a service.
    const names = [...UPSTREAMS, 'gateway'];
    const picked = await freePorts(names.length);
    names.forEach((name, i) => {
      ports[name] = picked[i] as number;
    });
    env = {
      ...process.env,
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM__LOG__LEVEL: 'warn',
      TRADINGSYSTEM__SIM__OPEN_AT: new Date(Date.now() - 1_000).toISOString(),
      ...Object.fromEntries(
        Object.entries(ports).map(([n, p]) => [
          `TRADINGSYSTEM__SERVICES__${n.replace('-', '_').toUpperCase()}__PORT`,
          String(p),
        ]),
      ),
    };
    for (const name of [...UPSTREAMS, 'gateway']) await startService(name);
    const key = readFileSync(path.join(home, 'gateway', 'initial-admin-key'), 'utf8').trim();
    const get = async (url: string) => {
      const started = Date.now();
      const res = await fetch(`http://127.0.0.1:${ports.gateway}${url}`, { headers: { 'x-api-key': key } });
      return { status: res.status, body: (await res.json()) as JsonBody, ms: Date.now() - started };
    };
    const allServing = async () => {
      for (const url of Object.values(PROBES)) if ((await get(url)).status !== 200) return false;
      return (await get('/api/v1/health')).body.services.stream.status !== 'down';
    };
    await waitFor('every route served', allServing, 30_000);

    for (const victim of UPSTREAMS) {
      await kill(victim);
      for (const [owner, url] of Object.entries(PROBES)) {
        const res = await get(url);
        if (owner === victim) {
          expect(res.status, `${url} with ${victim} dead`).toBe(503);
          expect(res.body.error).toMatchObject({
            code: 'UPSTREAM_UNAVAILABLE',
            details: { service: victim },
          });
          expect(res.ms, `${url} answered in ${res.ms} ms`).toBeLessThan(500);
        } else {
          expect(res.status, `${url} with ${victim} dead: ${JSON.stringify(res.body)}`).toBe(200);
        }
      }
      const health = await get('/api/v1/health');
      expect(health.status).toBe(503);
      expect(health.body.services[victim].status).toBe('down');

      await startService(victim);
      await waitFor(`every route served again after ${victim} restarted`, allServing, 30_000);
    }
  }, 180_000);
});
