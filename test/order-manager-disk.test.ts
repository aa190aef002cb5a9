import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { configEnv, freePort, runCli, Supervisors, tempHome, waitFor } from './helpers/cli.js';
import { SmallDisk } from './helpers/disk.js';

// biome-ignore lint/suspicious/noExplicitAny: test reads of JSON bodies
type Json = any;

const OTHERS_OFF = Object.fromEntries(
  ['stream', 'gateway', 'idea-bank', 'docs'].map((n) => [n, { enabled: false }]),
);
const supervisors = new Supervisors();

describe('order manager on a full disk', () => {
  it('refuses orders with a clear 503 while the disk is full, stays up, and trades again once freed', async () => {
    const home = tempHome('ts-om-disk-');
    // The order journal and the simulated venue share one small disk.
    const db = SmallDisk.mountAt(path.join(home, 'db'), 16);
    const sim = SmallDisk.mountAt(path.join(home, 'sim'), 16);
    try {
      const port = await freePort();
      const env = configEnv(home, {
        services: { ...OTHERS_OFF, 'data-capture': { port: await freePort() }, 'order-manager': { port } },
        sim: { tradesPerSecond: 50 },
        supervisor: { healthIntervalMs: 200, backoffInitialMs: 200, backoffMaxMs: 1_000 },
      });
      const base = `http://127.0.0.1:${port}`;
      const call = async (method: string, url: string, body?: object) => {
        const res = await fetch(`${base}${url}`, {
          method,
          ...(body && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        });
        return { status: res.status, body: (await res.json()) as Json };
      };
      const pid = async () => {
        const st = JSON.parse((await runCli(['status', '--json'], env)).stdout) as Json;
        return st.processes.find((p: Json) => p.name === 'order-manager')?.pid as number | null;
      };
      supervisors.start(env);
      await waitFor(
        'ready',
        async () => (await call('GET', '/health')).body.checks?.broker?.status === 'ok',
        30_000,
      );
      const order = (i: number) => ({
        symbol: 'WINZ26',
        side: i % 2 ? 'SELL' : 'BUY',
        type: 'MARKET',
        quantity: 1,
        clientOrderId: `disk-${i}`,
      });
      const before = await call('POST', '/api/orders', order(1));
      expect(before.status).toBe(201);
      const firstPid = await pid();

      db.fill();
      sim.fill();
      const refused: Json[] = [];
      for (let i = 2; i <= 40; i++) {
        const r = await call('POST', '/api/orders', order(i));
        if (r.status !== 201) refused.push(r);
      }
      expect(refused.length, 'a full disk refuses orders').toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.status).toBe(503);
        expect(r.body.error.message).toMatch(/full|SQLITE_FULL|ENOSPC/i);
      }
      const health = await call('GET', '/health');
      expect(health.status).toBe(503);
      expect(await pid(), 'the order manager did not die').toBe(firstPid);
      // Reads still work.
      expect((await call('GET', '/api/orders?limit=10')).status).toBe(200);

      db.free();
      sim.free();
      const after = await waitFor(
        'orders accepted again',
        async () => {
          const r = await call('POST', '/api/orders', order(1_000 + Date.now()));
          return r.status === 201 ? r : null;
        },
        30_000,
        500,
      );
      expect(after.body.data.status).not.toBe('REJECTED');
      await waitFor('healthy', async () => (await call('GET', '/health')).status === 200, 30_000, 200);
      // Every order we acknowledged is in the journal and at the venue, once.
      const listed = (await call('GET', '/api/orders?limit=1000')).body.data as Json[];
      const acked = listed.filter((o) => o.status !== 'UNKNOWN');
      const venue = new Database(path.join(home, 'sim', 'venue.sqlite'), { readonly: true });
      const atVenue = venue.prepare('SELECT count(*) AS n FROM orders').get() as { n: number };
      venue.close();
      expect(atVenue.n).toBeGreaterThanOrEqual(acked.length);
      expect(new Set(listed.map((o) => o.clientOrderId)).size).toBe(listed.length);
      await supervisors.stop();
    } finally {
      await supervisors.stopIfRunning();
      db.unmountOnly();
      sim.unmountOnly();
    }
  }, 120_000);
});
