import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashFile } from '../src/ops/backup/copy.js';
import type { Manifest } from '../src/ops/backup/manifest.js';
import {
  configEnv,
  freePort,
  internalFetch,
  runCli,
  Supervisors,
  spawnCli,
  tempHome,
  waitFor,
} from './helpers/cli.js';
import { SmallDisk } from './helpers/disk.js';

// biome-ignore lint/suspicious/noExplicitAny: test reads of JSON bodies
type Json = any;

const supervisors = new Supervisors();

/** A whole system in a temp home (config inside it), on free ports, trading on the simulator. */
async function system(home = tempHome('ts-backup-')) {
  const ports = {
    dc: await freePort(),
    om: await freePort(),
    stream: await freePort(),
    gw: await freePort(),
    ideas: await freePort(),
    docs: await freePort(),
  };
  const env = configEnv(home, {
    services: {
      'data-capture': { port: ports.dc, journal: { segmentMaxAgeMs: 1_000 } },
      'order-manager': { port: ports.om },
      stream: { port: ports.stream },
      gateway: { port: ports.gw },
      'idea-bank': { port: ports.ideas },
      docs: { port: ports.docs, dir: path.resolve('docs') },
    },
    sim: { tradesPerSecond: 200 },
    supervisor: { healthIntervalMs: 300, backoffInitialMs: 200, stopTimeoutMs: 15_000 },
  });
  const url = (port: number, route: string) => `http://127.0.0.1:${port}${route}`;
  const fetch = internalFetch(home);
  const post = async (port: number, route: string, body: object) => {
    const res = await fetch(url(port, route), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const get = async (port: number, route: string) => (await (await fetch(url(port, route))).json()) as Json;
  return { home, env, ports, post, get };
}
type System = Awaited<ReturnType<typeof system>>;

const cli = (s: System, ...args: string[]) => runCli(args, s.env, 300_000);

/** Orders and ideas, one after another, until stopped: what was acknowledged is kept. */
function load(s: System) {
  const acked = { orders: [] as string[], ideas: [] as string[] };
  let stop = false;
  const run = (async () => {
    for (let i = 0; !stop; i++) {
      const side = i % 2 ? 'SELL' : 'BUY';
      const symbol = i % 3 ? 'WINZ26' : 'WDOZ26';
      const o = await s.post(s.ports.om, '/api/orders', {
        symbol,
        side,
        type: 'MARKET',
        quantity: 1,
        clientOrderId: `bk-${i}`,
      });
      if (o.status === 201) acked.orders.push(o.body.data.clientOrderId);
      if (i % 4 === 0) {
        const idea = await s.post(s.ports.ideas, '/api/items', {
          title: `idea ${i}`,
          description: 'backup under load',
          category: 'gestao-riscos',
        });
        if (idea.status === 201) acked.ideas.push(idea.body.data.id);
      }
      await new Promise((r) => setTimeout(r, 120)); // past the duplicate-order window of each symbol
    }
  })();
  return {
    acked,
    stop: async () => {
      stop = true;
      await run;
    },
  };
}

function manifestOf(home: string, name: string): Manifest {
  return JSON.parse(readFileSync(path.join(home, 'backups', name, 'manifest.json'), 'utf8')) as Manifest;
}

describe('backup and restore', () => {
  it('backs up under load and restores into a fresh home: every acknowledged idea, order and fill, Parquet identical', async () => {
    const live = await system();
    supervisors.start(live.env);
    await waitFor('up', async () => (await cli(live, 'health')).code === 0, 60_000, 500);
    const traffic = load(live);
    await new Promise((r) => setTimeout(r, 4_000));
    const before = { orders: [...traffic.acked.orders], ideas: [...traffic.acked.ideas] };
    const fillsBefore = new Map(
      ((await live.get(live.ports.om, '/api/orders?limit=1000')).data as Json[]).map((o) => [
        o.clientOrderId,
        o.fills.map((f: Json) => f.tradeId),
      ]),
    );
    const backup = await cli(live, 'backup', 'now');
    await traffic.stop();
    expect(backup.code, backup.stderr + backup.stdout).toBe(0);
    expect(backup.stdout).toContain('verified');
    const name = /backup (\S+):/.exec(backup.stdout)?.[1] as string;
    const list = JSON.parse((await cli(live, 'backup', 'list', '--json')).stdout) as Json[];
    expect(list.map((b) => [b.name, b.status])).toEqual([[name, 'verified']]);
    const manifest = manifestOf(live.home, name);
    expect(manifest.files.some((f) => f.path === 'data/db/orders.sqlite')).toBe(true);
    expect(manifest.files.some((f) => f.path.includes('parquet/trades/'))).toBe(true);
    await supervisors.stop();

    // A new machine: only the backup comes along.
    const fresh = await system();
    mkdirSync(path.join(fresh.home, 'backups'), { recursive: true });
    cpSync(path.join(live.home, 'backups', name), path.join(fresh.home, 'backups', name), {
      recursive: true,
    });
    const restored = await cli(fresh, 'restore', '--date', name);
    expect(restored.code, restored.stderr + restored.stdout).toBe(0);
    expect(restored.stdout).toMatch(/start .*every service healthy/);
    try {
      const orders = (await fresh.get(fresh.ports.om, '/api/orders?limit=1000')).data as Json[];
      const byClient = new Map(orders.map((o) => [o.clientOrderId, o]));
      for (const id of before.orders) expect(byClient.has(id), `order ${id}`).toBe(true);
      for (const [id, fills] of fillsBefore) {
        const got = byClient.get(id)?.fills.map((f: Json) => f.tradeId) ?? [];
        for (const f of fills) expect(got, `fill ${f} of ${id}`).toContain(f);
      }
      for (const id of before.ideas) {
        const idea = await internalFetch(fresh.home)(`http://127.0.0.1:${fresh.ports.ideas}/api/items/${id}`);
        expect(idea.status, `idea ${id}`).toBe(200);
      }
      for (const f of manifest.files.filter((x) => x.path.endsWith('.parquet'))) {
        const file = path.join(fresh.home, f.path.slice('data/'.length));
        expect(hashFile(file).sha256, f.path).toBe(f.sha256);
      }
    } finally {
      await runCli(['stop'], fresh.env);
    }
  }, 300_000);

  it('refuses a backup with one flipped byte or a missing file: verify and restore name the file', async () => {
    const s = await system();
    supervisors.start(s.env);
    await waitFor('up', async () => (await cli(s, 'health')).code === 0, 60_000, 500);
    await s.post(s.ports.ideas, '/api/items', { title: 't', description: 'd', category: 'gestao-riscos' });
    expect((await cli(s, 'backup', 'now')).code).toBe(0);
    expect((await cli(s, 'backup', 'now')).code).toBe(0);
    const [first, second] = (JSON.parse((await cli(s, 'backup', 'list', '--json')).stdout) as Json[]).map(
      (b) => b.name as string,
    );
    // One flipped byte in the ideas file of the first, the order journal missing from the second.
    const ideas = path.join(s.home, 'backups', first as string, 'data', 'db', 'ideas.json');
    const bytes = readFileSync(ideas);
    bytes[5] = (bytes[5] as number) ^ 0x01;
    writeFileSync(ideas, bytes);
    rmSync(path.join(s.home, 'backups', second as string, 'data', 'db', 'orders.sqlite'));
    for (const [name, file, reason] of [
      [first, 'data/db/ideas.json', 'SHA-256'],
      [second, 'data/db/orders.sqlite', 'missing'],
    ] as const) {
      const verify = await cli(s, 'backup', 'verify', name as string);
      expect(verify.code).toBe(1);
      expect(verify.stdout).toContain(`${file}: ${reason}`);
      const restore = await cli(s, 'restore', '--date', name as string);
      expect(restore.code).toBe(1);
      expect(restore.stderr).toContain(file);
    }
    const listed = JSON.parse((await cli(s, 'backup', 'list', '--json')).stdout) as Json[];
    expect(listed.map((b) => b.status)).toEqual(['bad', 'bad']);
    // Refused before anything was stopped or moved.
    expect((await cli(s, 'health')).code).toBe(0);
    expect(existsSync(path.join(s.home, 'restore-aside'))).toBe(false);
    await supervisors.stop();
  }, 300_000);

  it('lists nothing for a backup killed half-way, and the next one works', async () => {
    const s = await system();
    // Enough data that the copy takes a while: a big (fake) Parquet partition of today.
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date());
    const big = path.join(s.home, 'parquet', 'trades', `date=${today}`, 'ticker=WINZ26');
    mkdirSync(big, { recursive: true });
    for (let i = 0; i < 8; i++) writeFileSync(path.join(big, `seg-${i}.parquet`), Buffer.alloc(64 << 20, i));
    const run = spawnCli(['backup', 'now', '--no-verify'], s.env);
    const partial = await waitFor(
      'copying',
      () => {
        const dir = path.join(s.home, 'backups');
        const p = existsSync(dir) ? readdirSync(dir).find((n) => n.startsWith('.partial-')) : undefined;
        return p && readdirSync(path.join(dir, p), { recursive: true }).length > 3 ? p : null;
      },
      30_000,
      20,
    );
    run.child.kill('SIGKILL');
    await run.exited;
    expect(existsSync(path.join(s.home, 'backups', partial))).toBe(true);
    expect(JSON.parse((await cli(s, 'backup', 'list', '--json')).stdout)).toEqual([]);
    rmSync(big, { recursive: true }); // not real Parquet: the verify of the next would refuse it
    const next = await cli(s, 'backup', 'now');
    expect(next.code, next.stderr + next.stdout).toBe(0);
    const listed = JSON.parse((await cli(s, 'backup', 'list', '--json')).stdout) as Json[];
    expect(listed.map((b) => b.status)).toEqual(['verified']);
    // The abandoned folder is gone.
    expect(readdirSync(path.join(s.home, 'backups')).filter((n) => n.startsWith('.partial-'))).toEqual([]);
  }, 120_000);

  it('installs the daily backup as a systemd timer that systemd-analyze accepts, and as a Windows task', async () => {
    const home = tempHome('ts-backup-schedule-');
    const env = configEnv(home, { backup: { dailyAt: '02:30' }, timezone: 'America/Sao_Paulo' });
    const units = path.join(home, 'units');
    const linux = await runCli(['backup', 'install-schedule', '--dir', units], env);
    expect(linux.code, linux.stderr).toBe(0);
    const timer = path.join(units, 'tradingsystem-backup.timer');
    const service = path.join(units, 'tradingsystem-backup.service');
    expect(readFileSync(timer, 'utf8')).toContain('OnCalendar=*-*-* 02:30:00 America/Sao_Paulo');
    expect(readFileSync(timer, 'utf8')).toContain('Persistent=true'); // a run missed while off is made up
    expect(readFileSync(service, 'utf8')).toContain(`Environment=TRADINGSYSTEM_HOME=${home}`);
    const verified = spawnSync('systemd-analyze', ['verify', timer, service], { encoding: 'utf8' });
    expect(verified.error, 'systemd-analyze (Debian package systemd) must be installed').toBeUndefined();
    expect(`${verified.stdout}${verified.stderr}`.trim()).toBe('');
    expect(verified.status).toBe(0);

    const windows = await runCli(['backup', 'install-schedule', '--dir', units, '--windows'], env);
    expect(windows.code, windows.stderr).toBe(0);
    const raw = readFileSync(path.join(units, 'TradingSystem-Backup.xml'));
    expect([...raw.subarray(0, 2)]).toEqual([0xff, 0xfe]); // UTF-16LE with its byte-order mark
    const xml = raw.subarray(2).toString('utf16le');
    expect(xml).toContain('<StartBoundary>2026-01-01T02:30:00</StartBoundary>');
    expect(xml).toContain('<StartWhenAvailable>true</StartWhenAvailable>');
    expect(xml).toMatch(/backup now<\/Arguments>/);

    const bad = await runCli(['backup', 'install-schedule', '--every', 'day'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--every');
  });

  it('the supervisor makes up a daily backup missed while it was down, and says so in status', async () => {
    const home = tempHome('ts-backup-catchup-');
    const services = Object.fromEntries(
      ['data-capture', 'order-manager', 'stream', 'gateway', 'idea-bank'].map((n) => [n, { enabled: false }]),
    );
    const env = configEnv(home, {
      services: { ...services, docs: { port: await freePort(), dir: path.resolve('docs') } },
      backup: { dailyAt: '02:00' },
    });
    // Scheduled since two days ago, and no backup since: the last 02:00 run was missed.
    mkdirSync(path.join(home, 'backups'), { recursive: true });
    writeFileSync(
      path.join(home, 'backups', '.scheduled-since'),
      `${new Date(Date.now() - 2 * 86_400_000).toISOString()}\n`,
    );
    mkdirSync(path.join(home, 'db'), { recursive: true });
    writeFileSync(path.join(home, 'db', 'ideas.json'), JSON.stringify({ items: [] }));
    supervisors.start(env);
    const listed = await waitFor(
      'the made-up backup',
      async () => {
        const list = JSON.parse((await runCli(['backup', 'list', '--json'], env)).stdout) as Json[];
        return list.length ? list : null;
      },
      60_000,
      500,
    );
    expect(listed.map((b) => b.status)).toEqual(['verified']);
    const job = await waitFor(
      'the job recorded',
      async () => {
        const st = JSON.parse((await runCli(['status', '--json'], env)).stdout) as Json;
        const backup = (st.jobs as Json[] | undefined)?.find((j) => j.name === 'backup');
        return backup?.lastRun ? backup : null;
      },
      20_000,
      300,
    );
    expect(job.lastRun).toMatchObject({ ok: true, trigger: 'catch-up' });
    expect(job.at).toBe('02:00');
    await supervisors.stop();
    // Started again with that backup in place: nothing was missed, no second backup.
    supervisors.start(env);
    await waitFor('up', async () => (await runCli(['health'], env)).code === 0, 30_000, 300);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((JSON.parse((await runCli(['backup', 'list', '--json'], env)).stdout) as Json[]).length).toBe(1);
    await supervisors.stop();
  }, 120_000);

  it('dr-drill restores into a scratch home beside the live system and finds the same ideas, orders, fills and trades', async () => {
    const s = await system();
    supervisors.start(s.env);
    await waitFor('up', async () => (await cli(s, 'health')).code === 0, 60_000, 500);
    const traffic = load(s);
    await new Promise((r) => setTimeout(r, 3_000));
    await traffic.stop();
    const pidsBefore = (JSON.parse((await cli(s, 'status', '--json')).stdout) as Json).processes.map(
      (p: Json) => p.pid,
    );
    const drill = await cli(s, 'dr-drill', '--json');
    expect(drill.code, drill.stderr + drill.stdout).toBe(0);
    const report = JSON.parse(drill.stdout) as Json;
    expect(report.ok).toBe(true);
    expect(report.live.orders).toBe(traffic.acked.orders.length);
    expect(report.restored.orders).toBeGreaterThanOrEqual(report.live.orders);
    expect(report.restored.ideas).toBeGreaterThanOrEqual(traffic.acked.ideas.length);
    expect(Object.keys(report.liveTrades).sort()).toEqual(['PETR4', 'VALE3', 'WDOZ26', 'WINZ26']);
    expect(Object.values(report.liveTrades as Record<string, number>).every((n) => n > 0)).toBe(true);
    expect(report.restoredTrades).toEqual(report.liveTrades);
    expect(report.rtoMs).toBeGreaterThan(0);
    expect(report.rpoMs).toBeGreaterThanOrEqual(0);
    // The live system was not stopped or restarted, and the scratch home is gone.
    const pidsAfter = (JSON.parse((await cli(s, 'status', '--json')).stdout) as Json).processes.map(
      (p: Json) => p.pid,
    );
    expect(pidsAfter).toEqual(pidsBefore);
    expect(existsSync(report.scratchHome)).toBe(false);
    await supervisors.stop();
  }, 240_000);

  it('refuses to start a backup on a critically full disk, or one its copy would fill, and leaves nothing behind', async () => {
    // The data home on a 32 MB file system of its own.
    const disk = SmallDisk.mount(32, 'ts-backup-disk-');
    try {
      const env = configEnv(disk.dir, {});
      const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date());
      const partition = path.join(disk.dir, 'parquet', 'trades', `date=${today}`, 'ticker=WINZ26');
      mkdirSync(partition, { recursive: true });
      // 18 MB to copy with about 13 MB free: the copy would leave less than 5%.
      writeFileSync(path.join(partition, 'big.parquet'), Buffer.alloc(18 << 20, 1));
      const tooBig = await runCli(['backup', 'now'], env);
      expect(tooBig.code).toBe(1);
      expect(tooBig.stderr).toMatch(
        /backup refused: it needs 18\.9 MB and would leave [0-9.]+% free, below the critical level of 5%/,
      );
      rmSync(path.join(partition, 'big.parquet'));
      disk.fill();
      const full = await runCli(['backup', 'now'], env);
      expect(full.code).toBe(1);
      expect(full.stderr).toMatch(/backup refused: the disk is critically full/);
      expect(readdirSync(path.join(disk.dir, 'backups')).filter((n) => !n.startsWith('.scheduled'))).toEqual(
        [],
      );
      disk.free();
      const ok = await runCli(['backup', 'now'], env);
      expect(ok.code, ok.stderr).toBe(0);
      expect((JSON.parse((await runCli(['backup', 'list', '--json'], env)).stdout) as Json[]).length).toBe(1);
    } finally {
      disk.unmount();
    }
  }, 60_000);
});
