import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  configEnv,
  freePort,
  internalFetch,
  isAlive,
  runCli,
  Supervisors,
  tempHome,
  waitFor,
} from './helpers/cli.js';
import { SmallDisk } from './helpers/disk.js';

// biome-ignore lint/suspicious/noExplicitAny: test reads of JSON bodies
type Json = any;

const OTHERS_OFF = Object.fromEntries(
  ['stream', 'gateway', 'idea-bank', 'docs'].map((n) => [n, { enabled: false }]),
);
const supervisors = new Supervisors();

describe('order manager on a full disk', () => {
  it('refuses orders with a clear 503 while the disk is full, stays up, and agrees with the venue once freed', async () => {
    // The whole data home (order journal, simulated venue, logs) on one small disk.
    const disk = SmallDisk.mount(48, 'ts-om-disk-');
    const home = disk.dir;
    try {
      const port = await freePort();
      const env = configEnv(home, {
        services: { ...OTHERS_OFF, 'data-capture': { port: await freePort() }, 'order-manager': { port } },
        sim: { tradesPerSecond: 50 },
        supervisor: { healthIntervalMs: 200, backoffInitialMs: 200, backoffMaxMs: 1_000 },
      });
      const base = `http://127.0.0.1:${port}`;
      const call = async (method: string, url: string, body?: object) => {
        const res = await internalFetch(home)(`${base}${url}`, {
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
      let n = 0;
      const order = () => {
        n += 1;
        return {
          symbol: n % 2 ? 'WINZ26' : 'WDOZ26',
          side: n % 4 < 2 ? 'SELL' : 'BUY',
          type: 'MARKET',
          quantity: 1,
          clientOrderId: `disk-${n}`,
        };
      };
      expect((await call('POST', '/api/orders', order())).status).toBe(201);
      const firstPid = await pid();
      // Same order twice within the risk engine's duplicate window (1 s) is refused as a duplicate,
      // which is not what this test is about: let the accepted one age out and pace the attempts so
      // the four-order cycle below never repeats within the window.
      await new Promise((r) => setTimeout(r, 1_100));

      disk.fill();
      const refused: Json[] = [];
      const deadline = Date.now() + 4_000;
      while (Date.now() < deadline) {
        const r = await call('POST', '/api/orders', order());
        if (r.status !== 201) refused.push(r);
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(refused.length, 'a full disk refuses orders').toBeGreaterThan(0);
      for (const r of refused) {
        expect([503, 422]).toContain(r.status);
        expect(JSON.stringify(r.body.error)).toMatch(/full|SQLITE_FULL|ENOSPC|BROKER_NOT_READY/i);
      }
      const health = await call('GET', '/health');
      expect(health.status).toBe(503);
      expect(JSON.stringify(health.body.checks)).toMatch(/full/i);
      expect(await pid(), 'the order manager did not die').toBe(firstPid);
      expect((await call('GET', '/api/orders?limit=10')).status).toBe(200);

      disk.free();
      await waitFor(
        'orders accepted again',
        async () => (await call('POST', '/api/orders', order())).status === 201,
        30_000,
        500,
      );
      await waitFor('healthy', async () => (await call('GET', '/health')).status === 200, 30_000, 200);
      await new Promise((r) => setTimeout(r, 1_000)); // fills of the last orders arrive
      // Our book and the venue's agree order by order, and so do positions.
      const ours = ((await call('GET', '/api/orders?limit=1000')).body.data as Json[]).filter(
        (o) => o.brokerOrderId,
      );
      const venue = new Database(path.join(home, 'sim', 'venue.sqlite'), { readonly: true });
      const atVenue = new Map(
        (venue.prepare('SELECT broker_order_id AS id, data FROM orders').all() as Json[]).map((r) => [
          r.id,
          JSON.parse(r.data),
        ]),
      );
      const venuePositions = venue.prepare('SELECT symbol, quantity FROM positions').all() as Json[];
      venue.close();
      for (const o of ours) {
        expect(atVenue.has(o.brokerOrderId), `${o.clientOrderId} ${o.status} at the venue`).toBe(true);
        expect(atVenue.get(o.brokerOrderId).filledQty, o.clientOrderId).toBe(o.filledQty);
      }
      const positions = (await call('GET', '/api/positions')).body.data as Json[];
      for (const p of venuePositions) {
        expect(positions.find((x) => x.symbol === p.symbol)?.quantity ?? 0, p.symbol).toBe(p.quantity);
      }
      expect(new Set(ours.map((o) => o.clientOrderId)).size).toBe(ours.length);
      await supervisors.stop();
    } finally {
      await supervisors.stopIfRunning();
      disk.unmount();
    }
  }, 120_000);

  it.each([
    ['stopped cleanly', false],
    ['killed with -9, its WAL left behind', true],
  ])(
    'started while its journal folder is read-only (%s): down with the reason, then back by itself once writable',
    async (_how, killed) => {
      const home = tempHome('ts-om-ro-');
      const port = await freePort();
      const env = configEnv(home, {
        services: { ...OTHERS_OFF, 'data-capture': { port: await freePort() }, 'order-manager': { port } },
        sim: { tradesPerSecond: 50 },
        supervisor: { healthIntervalMs: 200, backoffInitialMs: 200, backoffMaxMs: 1_000 },
      });
      const health = async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
        return res ? { status: res.status, body: (await res.json()) as Json } : null;
      };
      // A journal exists, then the folder turns read-only and the order manager starts on it.
      supervisors.start(env);
      await waitFor('ready', async () => (await health())?.body.checks?.broker?.status === 'ok', 30_000);
      if (killed) {
        // Killed at once, supervisor and order manager, so nothing closes the journal: its -wal and
        // -shm stay, and over them SQLite takes a write lock on a read-only disk without complaint.
        const st = JSON.parse((await runCli(['status', '--json'], env)).stdout) as Json;
        const om = st.processes.find((p: Json) => p.name === 'order-manager').pid as number;
        process.kill(om, 'SIGKILL');
        process.kill(st.pid, 'SIGKILL');
        await waitFor('all gone', () => !isAlive(om) && !isAlive(st.pid), 10_000);
        expect(existsSync(path.join(home, 'db', 'orders.sqlite-wal'))).toBe(true);
        await supervisors.stopIfRunning();
      } else {
        await supervisors.stop();
      }
      const db = path.join(home, 'db');
      SmallDisk.readOnlyBind(db);
      let bound = true;
      try {
        supervisors.start(env);
        const down = await waitFor(
          'reported down',
          async () => {
            const h = await health();
            return h?.status === 503 && h.body.checks.journal?.status === 'down' ? h : null;
          },
          30_000,
        );
        expect(down.body.checks.journal.detail).toMatch(/refuses|readonly|read-only|open/i);
        SmallDisk.undoBind(db);
        bound = false;
        // It restarts itself with the journal once it can open it.
        await waitFor(
          'back',
          async () => (await health())?.body.checks?.broker?.status === 'ok',
          30_000,
          200,
        );
        const order = await internalFetch(home)(`http://127.0.0.1:${port}/api/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ symbol: 'WINZ26', side: 'BUY', type: 'MARKET', quantity: 1 }),
        });
        expect(order.status).toBe(201);
        await supervisors.stop();
      } finally {
        if (bound) SmallDisk.undoBind(db);
        await supervisors.stopIfRunning();
      }
    },
    120_000,
  );
});
