import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  configEnv,
  freePort,
  internalHeaders,
  isAlive,
  runCli,
  Supervisors,
  tempHome,
  waitFor,
} from './helpers/cli.js';
import { SmallDisk } from './helpers/disk.js';
import { getJson, type Truth, tradeNumbersInParquet } from './helpers/market.js';

const OTHERS_OFF = Object.fromEntries(
  ['order-manager', 'stream', 'gateway', 'idea-bank', 'docs'].map((n) => [n, { enabled: false }]),
);
const TICKERS = ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3'];

interface Status {
  broker: { state: string; status: string };
  cursors: Record<string, { lastTradeId: number } | null>;
}
interface Gaps {
  open: number;
  data: { state: string; reason: string; fromTradeId: number; toTradeId: number; filled: number }[];
}

/**
 * A market that opens shortly after the test starts and closes `openForMs` later, so the
 * simulator's ground truth is final once it has closed.
 */
async function market(opts: {
  tradesPerSecond: number;
  openForMs: number;
  recovery?: object;
  journal?: object;
  supervisor?: object;
  /** More data-capture settings, and the `disk` section. */
  capture?: object;
  disk?: object;
}) {
  const home = tempHome('ts-dc-');
  const port = await freePort();
  const openAt = Date.now() + 1_500;
  const closeAt = openAt + opts.openForMs;
  const env = configEnv(home, {
    services: {
      ...OTHERS_OFF,
      'data-capture': {
        port,
        journal: { segmentMaxAgeMs: 1_500, fsyncIntervalMs: 20, ...opts.journal },
        recovery: {
          reconnectAttempts: 3,
          reconnectIntervalMs: 300,
          stallAfterMs: 600,
          escalateAfterMs: 1_500,
          ...opts.recovery,
        },
        ...opts.capture,
      },
    },
    ...(opts.disk && { disk: opts.disk }),
    sim: {
      tradesPerSecond: opts.tradesPerSecond,
      openAt: new Date(openAt).toISOString(),
      closeAt: new Date(closeAt).toISOString(),
    },
    supervisor: {
      healthIntervalMs: 200,
      backoffInitialMs: 200,
      backoffMaxMs: 1_000,
      stopTimeoutMs: 20_000,
      ...opts.supervisor,
    },
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    home,
    env,
    base,
    openAt,
    closeAt,
    truth: () => getJson<Truth>(`${base}/api/sim/truth`, { headers: internalHeaders(home) }),
    status: () => getJson<Status>(`${base}/api/status`, { headers: internalHeaders(home) }),
    gaps: () => getJson<Gaps>(`${base}/api/gaps`, { headers: internalHeaders(home) }),
    health: async () => {
      const res = await fetch(`${base}/health`);
      return {
        code: res.status,
        body: (await res.json()) as {
          status: string;
          checks: Record<string, { status: string; state?: string }>;
        },
      };
    },
    fault: (kind: string, durationMs?: number) =>
      fetch(`${base}/api/sim/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...internalHeaders(home) },
        body: JSON.stringify({ kind, ...(durationMs && { durationMs }) }),
      }),
  };
}
type Market = Awaited<ReturnType<typeof market>>;

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

/** After the close: every gap filled and the capture caught up with the simulator's last trade. */
async function caughtUp(m: Market, timeoutMs = 30_000): Promise<Record<string, number>> {
  await sleepUntil(m.closeAt + 300);
  const truth = await m.truth();
  const expected = Object.fromEntries(TICKERS.map((t) => [t, truth.instruments[t]?.lastTradeId ?? 0]));
  await waitFor(
    'capture caught up with the market',
    async () => {
      const [s, g] = await Promise.all([m.status(), m.gaps()]);
      return g.open === 0 && TICKERS.every((t) => s.cursors[t]?.lastTradeId === expected[t]);
    },
    timeoutMs,
    200,
  );
  return expected;
}

/** Parquet holds exactly trade numbers 1..N of every instrument, once each. */
async function expectExactlyOnce(home: string, expected: Record<string, number>) {
  const numbers = await tradeNumbersInParquet(home);
  for (const t of TICKERS) {
    const n = expected[t] ?? 0;
    expect(n, `${t} traded`).toBeGreaterThan(0);
    expect(numbers[t], t).toEqual({ rows: n, distinct: n, min: 1, max: n });
  }
}

const supervisors = new Supervisors();
const supervise = (m: Market) => supervisors.start(m.env);

/** /health once it says the journal is down (503). */
const journalDown = (m: Market) =>
  waitFor(
    'journal reported down',
    async () => {
      const h = await m.health();
      return h.code === 503 && h.body.checks.journal?.status === 'down' ? h : null;
    },
    5_000,
    50,
  );
const journalStatus = async (m: Market) => (await m.health()).body.checks.journal?.status;

/** The running data-capture process, whatever its health. */
async function anyDataCapturePid(m: Market): Promise<number | null> {
  const res = await runCli(['status', '--json'], m.env);
  const st = JSON.parse(res.stdout) as { processes: { name: string; pid: number | null }[] };
  return st.processes.find((x) => x.name === 'data-capture')?.pid ?? null;
}

async function dataCapturePid(m: Market): Promise<number> {
  const res = await runCli(['status', '--json'], m.env);
  const st = JSON.parse(res.stdout) as { processes: { name: string; pid: number | null; state: string }[] };
  const p = st.processes.find((x) => x.name === 'data-capture');
  return p?.state === 'healthy' || p?.state === 'degraded' ? (p.pid ?? 0) : 0;
}

describe('data-capture without tick loss', () => {
  it('loses no trade and duplicates none when killed with SIGKILL at 2,000 trades/s (several runs)', async () => {
    let late = 0;
    for (let round = 0; round < 3; round++) {
      const m = await market({ tradesPerSecond: 2_000, openForMs: 8_000 });
      supervise(m);
      const firstPid = await waitFor('data-capture up', () => dataCapturePid(m), 30_000);
      // Killed while capturing (on a loaded machine the start can take a while).
      await waitFor(
        'capturing',
        async () => Object.values((await m.status()).cursors).every(Boolean),
        30_000,
      );
      const killAt = m.openAt + 2_000 + round * 1_000;
      if (Date.now() > Math.max(killAt, m.closeAt - 3_000)) {
        // A start slower than the market's window (a loaded machine) leaves no open market to kill
        // it in: that round proves nothing, so it runs again on a fresh market (a few times at most).
        expect(++late, 'data-capture never started before its market was nearly over').toBeLessThan(4);
        expect((await supervisors.stop()).code).toBe(0);
        round--;
        continue;
      }
      await sleepUntil(killAt);
      process.kill(firstPid, 'SIGKILL');
      const secondPid = await waitFor('restarted', async () => {
        const pid = await dataCapturePid(m);
        return pid && pid !== firstPid ? pid : 0;
      });
      expect(isAlive(secondPid)).toBe(true);
      const expected = await caughtUp(m);
      const gaps = await m.gaps();
      // Found by the tail check at the reconnect, or by the next live trade's jump.
      expect(
        gaps.data.some((g) => (g.reason === 'jump' || g.reason === 'tail') && g.state === 'filled'),
        `the outage left a gap that was filled: ${JSON.stringify(gaps.data)}`,
      ).toBe(true);
      expect(gaps.data.every((g) => g.state === 'filled')).toBe(true);

      expect((await supervisors.stop()).code).toBe(0);
      await expectExactlyOnce(m.home, expected);
    }
  }, 240_000);

  it('restarts over a Parquet backlog with a bounded query tail, says which trades are not queryable yet, and loses none', async () => {
    // Conversion paused (every disk reads as critically full) builds the backlog; a restart once
    // put all of it in memory (GBs after an hour at this rate, and collections that stalled the
    // service until the supervisor killed it again).
    const TAIL_MAX = 5_000;
    const m = await market({
      tradesPerSecond: 2_000,
      openForMs: 8_000,
      capture: { queryTailMaxTrades: TAIL_MAX },
      disk: { criticalFreePercent: 100 },
    });
    supervise(m);
    const firstPid = await waitFor('data-capture up', () => anyDataCapturePid(m), 30_000);
    await waitFor('capturing', async () => Object.values((await m.status()).cursors).every(Boolean), 30_000);
    await sleepUntil(m.openAt + 4_000);
    const tailTrades = async () =>
      Number(
        (await (await fetch(`${m.base}/metrics`)).text()).match(
          /^tradingsystem_data_capture_query_tail_trades (\d+)/m,
        )?.[1],
      );
    expect(await tailTrades()).toBeLessThanOrEqual(TAIL_MAX);
    const parquet = (await m.health()).body.checks.parquet as { status: string; detail?: string };
    expect(parquet.status).toBe('degraded');
    expect(parquet.detail).toMatch(/paused.*not all queryable until Parquet catches up/);

    process.kill(firstPid, 'SIGKILL');
    const secondPid = await waitFor('restarted', async () => {
      const pid = await anyDataCapturePid(m);
      return pid && pid !== firstPid ? pid : 0;
    });
    await waitFor('answering', async () => (await m.health()).body.checks.parquet !== undefined, 30_000);
    const setUp = readFileSync(path.join(m.home, 'logs', 'data-capture', `${localDay()}.jsonl`), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"capture.set_up"') && l.includes(`"pid":${secondPid}`))
      .map((l) => JSON.parse(l) as { replayed: { records: number; toTail: number; skippedThrough: number } });
    expect(setUp).toHaveLength(1);
    const replayed = setUp[0]?.replayed;
    expect(replayed?.toTail).toBeLessThanOrEqual(TAIL_MAX);
    expect(replayed?.skippedThrough).toBeGreaterThan(0);
    expect(await tailTrades()).toBeLessThanOrEqual(TAIL_MAX);
    // And it says so: the trades the restart left out of the tail are not queryable yet.
    const afterRestart = (await m.health()).body.checks.parquet as { unqueryableThrough?: number };
    expect(afterRestart.unqueryableThrough).toBeGreaterThanOrEqual(replayed?.skippedThrough ?? 1);

    // The disk "freed": conversion runs again after a restart with the normal threshold.
    const expected = await caughtUp(m);
    const configFile = m.env.TRADINGSYSTEM_CONFIG as string;
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    writeFileSync(configFile, JSON.stringify({ ...config, disk: { criticalFreePercent: 0 } }));
    expect((await runCli(['restart', 'data-capture'], m.env)).code).toBe(0);
    const settled = await waitFor(
      'every segment in Parquet',
      async () => {
        const h = await m.health();
        const p = h.body.checks.parquet as { status: string; pendingSegments?: number };
        return p.status === 'ok' && p.pendingSegments === 0 ? p : null;
      },
      60_000,
      200,
    );
    expect(settled.status).toBe('ok');
    // Queryable again through the last trade.
    const last = await getJson<{ data: { tradeId: number }[] }>(
      `${m.base}/api/trades?ticker=WINZ26&order=desc&limit=1`,
      { headers: internalHeaders(m.home) },
    );
    expect(last.data[0]?.tradeId).toBe(expected.WINZ26);
    expect((await supervisors.stop()).code).toBe(0);
    await expectExactlyOnce(m.home, expected);
  }, 180_000);

  it('recovers from a broker disconnect within the policy, resubscribes and fills the gap', async () => {
    const m = await market({ tradesPerSecond: 500, openForMs: 7_000 });
    supervise(m);
    await waitFor('active', async () => (await m.status()).broker.state === 'Active', 30_000);
    await sleepUntil(m.openAt + 1_500);
    expect((await m.fault('disconnect', 800)).status).toBe(202);
    await waitFor('connection lost', async () => (await m.status()).broker.state !== 'Active', 5_000, 20);
    // 3 attempts 300 ms apart: back well within the policy once the broker is reachable again.
    await waitFor('active again', async () => (await m.status()).broker.state === 'Active', 5_000, 50);
    const expected = await caughtUp(m);
    const gaps = await m.gaps();
    expect(gaps.data.filter((g) => g.reason === 'jump' || g.reason === 'tail').length).toBeGreaterThan(0);
    const log = readFileSync(path.join(m.home, 'logs', 'data-capture', `${localDay()}.jsonl`), 'utf8');
    expect(log).toContain('"event":"broker.connection_lost"');
    expect(log).toContain('"event":"broker.reconnecting"');
    expect(log).not.toContain('"event":"broker.escalation"');
    await supervisors.stop();
    await expectExactlyOnce(m.home, expected);
  }, 90_000);

  it('treats a silent feed as a stall: degraded, reconnected, gap filled', async () => {
    const m = await market({ tradesPerSecond: 500, openForMs: 7_000 });
    supervise(m);
    await waitFor('active', async () => (await m.status()).broker.state === 'Active', 30_000);
    await sleepUntil(m.openAt + 1_500);
    expect((await m.fault('stall', 1_200)).status).toBe(202);
    await waitFor(
      'stall detected',
      async () => {
        const log = readFileSync(path.join(m.home, 'logs', 'data-capture', `${localDay()}.jsonl`), 'utf8');
        return log.includes('"event":"broker.stalled"');
      },
      5_000,
      50,
    );
    const expected = await caughtUp(m);
    expect((await m.health()).body.checks.broker?.status).toBe('ok');
    await supervisors.stop();
    await expectExactlyOnce(m.home, expected);
  }, 90_000);

  it('finds the trades of an outage that lasts past the close: killed 3 s before it, back after it', async () => {
    const m = await market({
      tradesPerSecond: 500,
      openForMs: 20_000,
      // The supervisor brings it back only after the market has closed.
      supervisor: { backoffInitialMs: 5_000, backoffMaxMs: 5_000 },
    });
    supervise(m);
    const firstPid = await waitFor('data-capture up', () => dataCapturePid(m), 30_000);
    await waitFor('active', async () => (await m.status()).broker.state === 'Active', 15_000);
    await sleepUntil(m.closeAt - 3_000);
    expect(Date.now(), 'killed 3 s before the close').toBeLessThan(m.closeAt - 2_500);
    process.kill(firstPid, 'SIGKILL');
    await waitFor('restarted', async () => {
      const pid = await dataCapturePid(m);
      return pid && pid !== firstPid ? pid : 0;
    });
    expect(Date.now(), 'back only after the close').toBeGreaterThan(m.closeAt);
    const expected = await caughtUp(m);
    const gaps = await m.gaps();
    const tail = gaps.data.filter((g) => g.reason === 'tail');
    expect(tail.length, JSON.stringify(gaps.data)).toBeGreaterThan(0);
    expect(tail.every((g) => g.state === 'filled' && g.filled > 0)).toBe(true);
    await supervisors.stop();
    await expectExactlyOnce(m.home, expected);
  }, 90_000);

  it('finds the trades a stall across the close hid, without waiting for a reconnect', async () => {
    const m = await market({
      tradesPerSecond: 500,
      openForMs: 20_000,
      recovery: { stallAfterMs: 60_000, escalateAfterMs: 120_000 },
    });
    supervise(m);
    await waitFor('active', async () => (await m.status()).broker.state === 'Active', 30_000);
    await sleepUntil(m.closeAt - 3_000);
    expect(Date.now(), 'stalled 3 s before the close').toBeLessThan(m.closeAt - 2_500);
    expect((await m.fault('stall', 10_000)).status).toBe(202);
    const expected = await caughtUp(m, 15_000);
    const gaps = await m.gaps();
    expect(gaps.data.some((g) => g.reason === 'tail' && g.state === 'filled')).toBe(true);
    expect(Date.now(), 'found before the stall ended').toBeLessThan(m.closeAt + 7_000);
    await supervisors.stop();
    await expectExactlyOnce(m.home, expected);
  }, 90_000);

  it('keeps running on a full disk: /health down with the reason, reads served, and nothing lost once freed', async () => {
    const m = await market({ tradesPerSecond: 500, openForMs: 20_000 });
    const disk = SmallDisk.mountAt(path.join(m.home, 'journal'), 64);
    try {
      supervise(m);
      const pid = await waitFor('data-capture up', () => dataCapturePid(m), 30_000);
      await waitFor('active', async () => (await m.status()).broker.state === 'Active', 15_000);
      await sleepUntil(m.openAt + 6_000);
      disk.fill();
      const down = await journalDown(m);
      expect(JSON.stringify(down.body.checks.journal)).toContain('ENOSPC');
      await sleepUntil(Date.now() + 3_000);
      // Still the same process, still answering reads.
      expect(await anyDataCapturePid(m)).toBe(pid);
      const trades = await fetch(`${m.base}/api/trades?ticker=WINZ26&order=desc&limit=5`, {
        headers: internalHeaders(m.home),
      });
      expect(trades.status).toBe(200);
      const metrics = await (await fetch(`${m.base}/metrics`)).text();
      expect(metrics).toContain('tradingsystem_data_capture_journal_writable 0');
      disk.free();
      await waitFor('journal writable again', async () => (await journalStatus(m)) === 'ok', 5_000, 100);
      const expected = await caughtUp(m);
      expect(await dataCapturePid(m)).toBe(pid);
      const gaps = await m.gaps();
      expect(gaps.data.some((g) => g.reason === 'unpersisted' && g.state === 'filled')).toBe(true);
      await supervisors.stop();
      await expectExactlyOnce(m.home, expected);
    } finally {
      await supervisors.stopIfRunning();
      disk.unmountOnly();
    }
  }, 120_000);

  it('keeps running when its journal folder turns read-only, and resumes by itself when it is writable', async () => {
    const m = await market({ tradesPerSecond: 500, openForMs: 20_000, journal: { segmentMaxAgeMs: 500 } });
    const dir = path.join(m.home, 'journal', 'marketdata');
    const disk = SmallDisk.mountAt(dir, 64);
    try {
      supervise(m);
      const pid = await waitFor('data-capture up', () => dataCapturePid(m), 30_000);
      await waitFor('active', async () => (await m.status()).broker.state === 'Active', 15_000);
      await sleepUntil(m.openAt + 6_000);
      SmallDisk.freeze(dir); // the next segment roll cannot create its file
      const down = await journalDown(m);
      expect(JSON.stringify(down.body.checks.journal)).toContain('EPERM');
      await sleepUntil(Date.now() + 3_000);
      expect(await anyDataCapturePid(m), 'no crash, no restart').toBe(pid);
      SmallDisk.thaw(dir);
      await waitFor('journal writable again', async () => (await journalStatus(m)) === 'ok', 5_000, 100);
      const expected = await caughtUp(m);
      expect(await dataCapturePid(m)).toBe(pid);
      await supervisors.stop();
      await expectExactlyOnce(m.home, expected);
    } finally {
      SmallDisk.thaw(dir);
      await supervisors.stopIfRunning();
      disk.unmountOnly();
    }
  }, 120_000);

  it('escalates when the broker refuses the login: error log, metric, /health down', async () => {
    const m = await market({ tradesPerSecond: 100, openForMs: 30_000 });
    supervise(m);
    await waitFor('active', async () => (await m.status()).broker.state === 'Active', 30_000);
    // Through the CLI, as an operator drilling it would.
    const loginFail = await runCli(['sim', 'fault', 'login-fail'], m.env);
    expect(loginFail.code, loginFail.stderr).toBe(0);
    expect((await runCli(['sim', 'fault', 'disconnect', '--for', '100ms'], m.env)).code).toBe(0);
    const faults = await runCli(['sim', 'faults'], m.env);
    expect(faults.stdout).toContain('login-fail');
    const truth = await runCli(['sim', 'truth'], m.env);
    expect(truth.stdout).toMatch(/WINZ26\s+\d+ at /);
    await waitFor(
      'invalid credentials',
      async () => (await m.status()).broker.state === 'InvalidCredentials',
      5_000,
      50,
    );
    const down = await waitFor(
      'escalated',
      async () => {
        const h = await m.health();
        return h.code === 503 ? h : null;
      },
      5_000,
      100,
    );
    expect(down.body.checks.broker).toMatchObject({ status: 'down', state: 'InvalidCredentials' });
    const metrics = await (await fetch(`${m.base}/metrics`)).text();
    expect(metrics).toContain('tradingsystem_data_capture_broker_escalated 1');
    expect(metrics).toContain('tradingsystem_data_capture_connection_state{state="InvalidCredentials"} 1');
    const log = readFileSync(path.join(m.home, 'logs', 'data-capture', `${localDay()}.jsonl`), 'utf8');
    expect(log).toContain('"event":"broker.escalation"');
  }, 90_000);
});

const localDay = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date());
