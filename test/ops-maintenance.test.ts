import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statfsSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { localDayOf } from '../src/kernel/time.js';
import { backupCheck } from '../src/ops/maintenance/health-check.js';
import {
  configEnv,
  freePort,
  internalFetch,
  isAlive,
  type JsonBody,
  runCli,
  Supervisors,
  tempHome,
  waitFor,
} from './helpers/cli.js';
import { SmallDisk } from './helpers/disk.js';

const DAY_MS = 86_400_000;
const ZONE = 'America/Sao_Paulo';
const ALL_OFF = Object.fromEntries(
  ['data-capture', 'order-manager', 'stream', 'gateway', 'idea-bank', 'docs'].map((n) => [
    n,
    { enabled: false },
  ]),
);
const FAST_SUPERVISOR = { healthIntervalMs: 200, backoffInitialMs: 200, backoffMaxMs: 1_000 };
const supervisors = new Supervisors();

/** The local date `days` before today in São Paulo (the config's default zone). */
const dateAgo = (days: number) =>
  new Date((localDayOf(ZONE, Date.now()).dayNumber - days) * DAY_MS).toISOString().slice(0, 10);

/** A daily log file of a service, dated `days` ago and last written then too (as a real old log is). */
function writeLog(home: string, service: string, days: number, mtimeDaysAgo = days): string {
  const dir = path.join(home, 'logs', service);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${dateAgo(days)}.jsonl`);
  writeFileSync(file, `${JSON.stringify({ level: 'info', msg: `a line from ${days} days ago` })}\n`);
  const t = new Date(Date.now() - mtimeDaysAgo * DAY_MS);
  utimesSync(file, t, t);
  return file;
}

const json = (text: string): JsonBody => JSON.parse(text);

/** A request to a service of the system in `home` (with its internal credential). */
async function get(
  url: string,
  init?: RequestInit,
  home?: string,
): Promise<{ status: number; body: JsonBody }> {
  const res = await (home ? internalFetch(home) : fetch)(url, init);
  return { status: res.status, body: await res.json() };
}

async function supervisedStatus(env: NodeJS.ProcessEnv): Promise<JsonBody> {
  return json((await runCli(['status', '--json'], env)).stdout);
}

describe('clean-logs', () => {
  it('--dry-run lists without removing; --days N removes the older files and never today’s', async () => {
    const home = tempHome('ts-clean-');
    const env = configEnv(home, { timezone: ZONE });
    const old = [
      writeLog(home, 'gateway', 40),
      writeLog(home, 'data-capture', 40),
      writeLog(home, 'docs', 31),
    ];
    const kept = [
      writeLog(home, 'gateway', 0),
      writeLog(home, 'data-capture', 0),
      writeLog(home, 'data-capture', 30),
      writeLog(home, 'docs', 29),
    ];
    // Named 40 days ago but written today (a clock set back): left alone.
    const writtenToday = writeLog(home, 'order-manager', 40, 0);
    // Not a daily log: never touched, however old.
    const notes = path.join(home, 'logs', 'gateway', 'notes.txt');
    writeFileSync(notes, 'keep me');
    utimesSync(notes, new Date(Date.now() - 90 * DAY_MS), new Date(Date.now() - 90 * DAY_MS));

    const dry = await runCli(['clean-logs', '--days', '30', '--dry-run', '--json'], env);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = json(dry.stdout);
    expect(plan).toMatchObject({ dryRun: true, days: 30, today: dateAgo(0), cutoff: dateAgo(30) });
    expect(plan.removed.map((f: JsonBody) => path.join(home, f.file)).sort()).toEqual([...old].sort());
    expect(plan.skipped.map((s: JsonBody) => path.join(home, s.file))).toEqual([writtenToday]);
    for (const f of [...old, ...kept, writtenToday, notes]) expect(existsSync(f), f).toBe(true);

    const dryText = await runCli(['clean-logs', '--days', '30', '--dry-run'], env);
    expect(dryText.code).toBe(0);
    expect(dryText.stdout).toContain(`would remove ${path.join('logs', 'gateway', `${dateAgo(40)}.jsonl`)}`);
    expect(dryText.stdout).toMatch(/would remove 3 log file\(s\)/);
    for (const f of old) expect(existsSync(f)).toBe(true);

    const real = await runCli(['clean-logs', '--days', '30'], env);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toMatch(/removed 3 log file\(s\).*dated before/);
    for (const f of old) expect(existsSync(f), `${f} removed`).toBe(false);
    for (const f of [...kept, writtenToday, notes]) expect(existsSync(f), `${f} kept`).toBe(true);

    // The shortest retention still leaves today's files.
    const shortest = await runCli(['clean-logs', '--days', '1', '--json'], env);
    expect(shortest.code).toBe(0);
    expect(json(shortest.stdout).removed.map((f: JsonBody) => f.date)).toEqual([dateAgo(30), dateAgo(29)]);
    for (const f of kept.slice(0, 2)) expect(existsSync(f), `${f}: today's`).toBe(true);
  });

  it('refuses a bad --days with exit 2, naming the option, and removes nothing', async () => {
    const home = tempHome('ts-clean-bad-');
    const env = configEnv(home, {});
    const old = writeLog(home, 'gateway', 400);
    for (const bad of [['--days', '0'], ['--days', '2.5'], ['--days']]) {
      const r = await runCli(['clean-logs', ...bad], env);
      expect(r.code, `${bad.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('--days');
      expect(r.stderr).toContain('usage: tradingsystem clean-logs');
    }
    expect(existsSync(old)).toBe(true);
  });

  it('the supervisor makes up a missed daily clean at start and records it', async () => {
    const home = tempHome('ts-clean-sup-');
    const old = writeLog(home, 'docs', 45);
    const recent = writeLog(home, 'docs', 3);
    // The last clean was the day before yesterday: today's 00:05 run was missed.
    mkdirSync(path.join(home, 'run'), { recursive: true });
    const before = new Date(Date.now() - 2 * DAY_MS).toISOString();
    writeFileSync(
      path.join(home, 'run', 'schedule.json'),
      JSON.stringify({
        'clean-logs': {
          startedAt: before,
          finishedAt: before,
          ok: true,
          trigger: 'schedule',
          lastSuccessAt: before,
        },
      }),
    );
    const env = configEnv(home, {
      timezone: ZONE,
      log: { retentionDays: 30, cleanAt: '00:05' },
      backup: { scheduled: false },
      services: { ...ALL_OFF, docs: { enabled: true, port: await freePort() } },
      supervisor: FAST_SUPERVISOR,
    });
    supervisors.start(env);
    await waitFor('the old log removed', () => !existsSync(old), 30_000);
    expect(existsSync(recent)).toBe(true);
    const record = await waitFor('the run recorded', () => {
      const r = json(readFileSync(path.join(home, 'run', 'schedule.json'), 'utf8'))['clean-logs'];
      return r?.startedAt !== before ? r : null;
    });
    expect(record).toMatchObject({ ok: true, trigger: 'catch-up', result: { removed: 1 } });
    const status = await supervisedStatus(env);
    expect(status.jobs.find((j: JsonBody) => j.name === 'clean-logs')).toMatchObject({
      at: '00:05',
      lastRun: { ok: true, trigger: 'catch-up' },
    });
    // Today's log of the supervisor (which it is writing) is there.
    expect(existsSync(path.join(home, 'logs', 'supervisor', `${dateAgo(0)}.jsonl`))).toBe(true);
    const lines = readFileSync(path.join(home, 'logs', 'supervisor', `${dateAgo(0)}.jsonl`), 'utf8');
    expect(lines).toContain('"event":"logs.cleaned"');
  });
});

/** Fills the small disk until `percent` of it is free (the filler grows or shrinks). */
function leaveFree(disk: SmallDisk, percent: number): void {
  const file = path.join(disk.dir, '.filler');
  const s = statfsSync(disk.dir);
  const current = existsSync(file) ? Number(execFileSync('stat', ['-c', '%s', file]).toString()) : 0;
  const target = current + s.bavail * s.bsize - Math.round((s.blocks * s.bsize * percent) / 100);
  execFileSync('truncate', ['-s', '0', file]);
  execFileSync('fallocate', ['-l', String(Math.max(0, target)), file]);
}

describe('check-disk and a critically full disk', () => {
  it('answers ok / warn / critical with exit 0 / 1 / 4; at critical data-capture pauses Parquet, journals on, and orders go on', async () => {
    const disk = SmallDisk.mount(64, 'ts-disk-check-');
    const home = disk.dir;
    try {
      const dcPort = await freePort();
      const omPort = await freePort();
      const env = configEnv(home, {
        services: {
          ...ALL_OFF,
          'data-capture': { enabled: true, port: dcPort, journal: { segmentMaxAgeMs: 500 } },
          'order-manager': { enabled: true, port: omPort },
        },
        sim: {
          tradesPerSecond: 20,
          openAt: new Date(Date.now() - 1_000).toISOString(),
          closeAt: new Date(Date.now() + 30 * 60_000).toISOString(),
        },
        disk: { cacheMs: 200 },
        backup: { scheduled: false },
        supervisor: FAST_SUPERVISOR,
      });
      const dc = `http://127.0.0.1:${dcPort}`;
      const om = `http://127.0.0.1:${omPort}`;
      const checkDisk = async () => {
        const r = await runCli(['check-disk', '--json'], env);
        return { code: r.code, body: json(r.stdout) };
      };
      supervisors.start(env);
      await waitFor(
        'data-capture converting',
        async () => {
          const h = await get(`${dc}/health`);
          return h.body.checks?.broker?.status === 'ok' && h.body.checks.parquet.convertedThrough > 0;
        },
        40_000,
      );
      await waitFor(
        'order-manager ready',
        async () => (await get(`${om}/health`)).body.status === 'ok',
        20_000,
      );

      const ok = await checkDisk();
      expect(ok.code).toBe(0);
      expect(ok.body).toMatchObject({ home, level: 'ok', warnPercent: 15, criticalPercent: 5 });
      expect(ok.body.freePercent).toBeGreaterThan(15);

      leaveFree(disk, 10);
      const warn = await checkDisk();
      expect(warn.code, JSON.stringify(warn.body)).toBe(1);
      expect(warn.body.level).toBe('warn');
      expect(warn.body.detail).toMatch(/below the warning level of 15%/);
      const text = await runCli(['check-disk'], env);
      expect(text.stdout).toMatch(/^WARN/);
      expect(text.stdout).toContain('runbooks/disk-space');
      await waitFor('/health disk degraded', async () => {
        const h = await get(`${dc}/health`);
        return h.body.checks.disk.level === 'warn' && h.body.checks.parquet.paused !== true;
      });

      leaveFree(disk, 2.5);
      const critical = await checkDisk();
      expect(critical.code, JSON.stringify(critical.body)).toBe(4);
      expect(critical.body.level).toBe('critical');
      const paused = await waitFor('Parquet paused', async () => {
        const h = await get(`${dc}/health`);
        return h.body.checks.parquet.paused === true ? h : null;
      });
      expect(paused.status, 'degraded, not down').toBe(200);
      expect(paused.body.status).toBe('degraded');
      expect(paused.body.checks.parquet.detail).toMatch(/Parquet conversion paused \(disk critical/);
      expect(paused.body.checks.journal.status).toBe('ok');
      const convertedAtPause = paused.body.checks.parquet.convertedThrough;
      const seqAtPause = (await get(`${dc}/api/status`, {}, home)).body.journal.durableSeq;
      // The order manager goes on.
      const order = await get(
        `${om}/api/orders`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            symbol: 'WINZ26',
            side: 'BUY',
            type: 'MARKET',
            quantity: 1,
            clientOrderId: 'disk-critical-1',
          }),
        },
        home,
      );
      expect(order.status, JSON.stringify(order.body)).toBe(201);
      // Journaling goes on, conversion does not.
      await waitFor(
        'journal moving on',
        async () => (await get(`${dc}/api/status`, {}, home)).body.journal.durableSeq > seqAtPause + 20,
      );
      await new Promise((r) => setTimeout(r, 1_500));
      const still = (await get(`${dc}/health`)).body.checks.parquet;
      expect(still.paused).toBe(true);
      expect(still.convertedThrough).toBe(convertedAtPause);
      expect(still.pendingSegments).toBeGreaterThan(0);

      disk.free();
      expect((await checkDisk()).code).toBe(0);
      const resumed = await waitFor('Parquet resumed', async () => {
        const p = (await get(`${dc}/health`)).body.checks.parquet;
        return p.paused !== true && p.convertedThrough > convertedAtPause ? p : null;
      });
      expect(resumed.status).not.toBe('down');
    } finally {
      await supervisors.stopIfRunning();
      disk.unmount();
    }
  }, 90_000);
});

describe('health-check and check-connection on a running system', () => {
  it('exit 0 when all is well (no backup yet is said, not failed); names a killed service; shows broker transitions', async () => {
    const home = tempHome('ts-health-');
    const dcPort = await freePort();
    const omPort = await freePort();
    const env = configEnv(home, {
      services: {
        ...ALL_OFF,
        'data-capture': {
          enabled: true,
          port: dcPort,
          recovery: {
            reconnectAttempts: 5,
            reconnectIntervalMs: 400,
            stallAfterMs: 600,
            escalateAfterMs: 60_000,
          },
        },
        'order-manager': { enabled: true, port: omPort },
      },
      sim: {
        tradesPerSecond: 20,
        openAt: new Date(Date.now() - 1_000).toISOString(),
        closeAt: new Date(Date.now() + 30 * 60_000).toISOString(),
      },
      backup: { scheduled: false },
      // Long enough that a killed service stays down while we look.
      supervisor: { ...FAST_SUPERVISOR, backoffInitialMs: 60_000, backoffMaxMs: 60_000 },
    });
    const dc = `http://127.0.0.1:${dcPort}`;
    const om = `http://127.0.0.1:${omPort}`;
    supervisors.start(env);
    await waitFor(
      'both healthy',
      async () =>
        (await get(`${dc}/health`)).body.status === 'ok' && (await get(`${om}/health`)).body.status === 'ok',
      40_000,
      200,
    );
    const good = await waitFor(
      'health-check passing',
      async () => {
        const r = await runCli(['health-check', '--json'], env);
        return r.code === 0 ? r : null;
      },
      20_000,
      500,
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${(await runCli(['health-check'], env)).stdout}`);
    });
    const report = json(good.stdout);
    expect(Object.keys(report).sort()).toEqual(['checkedAt', 'checks', 'home', 'ok']);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c: JsonBody) => c.name)).toEqual([
      'service data-capture',
      'service order-manager',
      'broker',
      'disk',
      'backup',
      'clock',
      'gaps',
      'reconciliation',
    ]);
    for (const c of report.checks) {
      expect(Object.keys(c)).toEqual(expect.arrayContaining(['name', 'status', 'detail']));
      expect(['ok', 'unknown']).toContain(c.status);
    }
    const byName = (r: JsonBody, n: string) => r.checks.find((c: JsonBody) => c.name === n);
    expect(byName(report, 'backup')).toMatchObject({ status: 'unknown' });
    expect(byName(report, 'backup').detail).toMatch(/^no backup yet/);
    expect(byName(report, 'broker')).toMatchObject({ status: 'ok', state: 'Active' });
    expect(byName(report, 'clock').status, byName(report, 'clock').detail).toBe('ok');
    const text = await runCli(['health-check'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/everything is ok/);

    // check-connection: state, transitions from the start, last trade per subscription.
    const conn = await runCli(['check-connection', '--json'], env);
    expect(conn.code, conn.stderr).toBe(0);
    const c = json(conn.stdout);
    expect(c.ok).toBe(true);
    expect(c.broker.state).toBe('Active');
    expect(c.broker.transitions.at(-1)).toMatchObject({ to: 'Active' });
    expect(c.broker.transitions[0]).toMatchObject({ from: 'Disconnected', cause: 'connect' });
    expect(c.subscriptions.length).toBeGreaterThan(0);
    for (const t of c.subscriptions) expect(c.cursors[t]?.lastTradeId, t).toBeGreaterThan(0);
    const connText = await runCli(['check-connection'], env);
    expect(connText.stdout).toMatch(/^broker session +Active/m);
    expect(connText.stdout).toMatch(new RegExp(`^ +${c.subscriptions[0]} +#\\d+ at `, 'm'));

    // A broker disconnect: it shows in the transitions, and the session comes back.
    const fault = await runCli(['sim', 'fault', 'disconnect', '--for', '1s'], env);
    expect(fault.code, fault.stderr).toBe(0);
    // Polled where check-connection reads it (data-capture's /api/status), then shown by it.
    await waitFor(
      'disconnect and recovery in the transitions',
      async () => {
        const ts = (await get(`${dc}/api/status`, {}, home)).body.broker.transitions;
        return ts.length > c.broker.transitions.length && ts.at(-1).to === 'Active';
      },
      20_000,
      200,
    );
    const after = await waitFor(
      'check-connection showing it',
      async () => {
        const r = json((await runCli(['check-connection', '--json'], env)).stdout);
        const ts = r.broker.transitions;
        const lost = ts.findIndex(
          (t: JsonBody, i: number) => i >= c.broker.transitions.length && t.from === 'Active',
        );
        return lost >= 0 && ts.at(-1).to === 'Active' ? { r, lost } : null;
      },
      20_000,
      300,
    );
    expect(after.r.broker.transitions[after.lost].cause).toBe('market:disconnected');
    expect(after.r.broker.reconnectsTotal).toBeGreaterThan(0);
    const afterText = await runCli(['check-connection'], env);
    expect(afterText.stdout).toMatch(/Active -> \w+ +\(market:disconnected\)/);

    // order-manager killed: health-check fails and says which.
    // Its /health names the pid that answers.
    const omPid = (await get(`${om}/health`)).body.pid;
    expect(
      (await supervisedStatus(env)).processes.find((p: JsonBody) => p.name === 'order-manager').pid,
    ).toBe(omPid);
    process.kill(omPid, 'SIGKILL');
    await waitFor('order-manager dead', () => !isAlive(omPid));
    const bad = await runCli(['health-check', '--json'], env);
    expect(bad.code).toBe(1);
    const badReport = json(bad.stdout);
    expect(badReport.ok).toBe(false);
    expect(byName(badReport, 'service order-manager')).toMatchObject({ status: 'fail' });
    expect(byName(badReport, 'service order-manager').detail).toMatch(/unreachable.*supervisor: backoff/);
    expect(byName(badReport, 'reconciliation')).toMatchObject({
      status: 'fail',
      detail: 'order-manager is not answering',
    });
    expect(byName(badReport, 'service data-capture').status).toBe('ok');
    const badText = await runCli(['health-check'], env);
    expect(badText.code).toBe(1);
    expect(badText.stdout).toMatch(/FAIL +service order-manager/);
    expect(badText.stdout).toMatch(/problem\(s\): service order-manager, reconciliation/);
    const health = await runCli(['health'], env);
    expect(health.code).toBe(1);
  }, 100_000);

  it('counts a missing backup only once the data home is older than backupMaxAgeHours', async () => {
    const home = tempHome('ts-health-backup-');
    const config = loadConfig({ env: { TRADINGSYSTEM_HOME: home }, cwd: home });
    const fresh = await backupCheck(config, Date.now());
    expect(fresh).toMatchObject({ status: 'unknown' });
    expect(fresh.detail).toMatch(/^no backup yet \(data home 0 h old\)/);
    const later = await backupCheck(config, Date.now() + 27 * 3_600_000);
    expect(later).toMatchObject({ status: 'fail', detail: `no good backup in ${home}/backups` });
  });

  it('health-check and check-connection with nothing running: non-zero, and bad options exit 2', async () => {
    const home = tempHome('ts-health-none-');
    const env = configEnv(home, {
      services: {
        ...ALL_OFF,
        'data-capture': { enabled: true, port: await freePort() },
        'order-manager': { enabled: true, port: await freePort() },
      },
    });
    const r = await runCli(['health-check', '--json'], env);
    expect(r.code).toBe(1);
    const report = json(r.stdout);
    expect(report.checks.find((c: JsonBody) => c.name === 'service data-capture')).toMatchObject({
      status: 'fail',
    });
    expect(report.checks.find((c: JsonBody) => c.name === 'broker')).toMatchObject({
      status: 'fail',
      detail: 'data-capture is not answering',
    });
    const conn = await runCli(['check-connection'], env);
    expect(conn.code).toBe(1);
    expect(conn.stderr).toMatch(/data-capture is not answering/);
    const bad = await runCli(['check-connection', '--transitions', 'many'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--transitions');
    const unknown = await runCli(['health-check', '--jsn'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--jsn');
  });
});

describe('a port held by another program', () => {
  it('is not taken for the service: status says so, health exits non-zero', async () => {
    const home = tempHome('ts-foreign-');
    const port = await freePort();
    const stranger = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok' }));
    });
    await new Promise<void>((resolve) => stranger.listen(port, '127.0.0.1', resolve));
    try {
      const env = configEnv(home, {
        services: { ...ALL_OFF, docs: { enabled: true, port } },
        backup: { scheduled: false },
        supervisor: { ...FAST_SUPERVISOR, healthTimeoutMs: 3_000 },
      });
      supervisors.start(env);
      const docs = await waitFor(
        'docs reported held by another program',
        async () => {
          const p = (await supervisedStatus(env)).processes?.find((x: JsonBody) => x.name === 'docs');
          return p?.detail?.includes('held by another program') ? p : null;
        },
        20_000,
      );
      expect(docs.state).not.toBe('healthy');
      expect(docs.state).not.toBe('degraded');
      expect(docs.detail).toContain(`port ${port} held by another program`);
      const health = await runCli(['health', '--json'], env);
      expect(health.code).toBe(1);
      const row = json(health.stdout).find((r: JsonBody) => r.service === 'docs');
      expect(row.status).toBe('down');
      expect(row.failing.join(' ')).toContain('held by another program');
      const text = await runCli(['health'], env);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/docs +down .*held by another program/);
    } finally {
      await supervisors.stopIfRunning();
      await new Promise((r) => stranger.close(r));
    }
  }, 60_000);
});
