import { describe, expect, it } from 'vitest';
import {
  configEnv,
  freePort,
  internalHeaders,
  runCli,
  Supervisors,
  tempHome,
  waitFor,
} from './helpers/cli.js';
import { duck, getJson, tradeNumbersInParquet } from './helpers/market.js';
import { buildFakeProfitDll, fakeCommand, tapeOf, writeCredentials } from './helpers/profitdll.js';

/**
 * data-capture with `broker: profitdll`, the DLL being the fake in C with its exchange on: a tape
 * that trades by itself (so trades go on while data-capture is dead), and a control port. The
 * fake's own record is its tape: trade n of a ticker is a function the test asks the fake for.
 */
const TAPE = [
  { ticker: 'WINZ26', exchange: 'F', rate: 150 },
  { ticker: 'WDOZ26', exchange: 'F', rate: 150 },
  { ticker: 'PETR4', exchange: 'B', rate: 100 },
  { ticker: 'VALE3', exchange: 'B', rate: 100 },
];
const OTHERS_OFF = Object.fromEntries(
  ['order-manager', 'stream', 'gateway', 'idea-bank', 'docs'].map((n) => [n, { enabled: false }]),
);

interface Status {
  broker: { state: string; status: string; transitions: { to: string }[] };
  cursors: Record<string, { lastTradeId: number } | null>;
}
interface Gaps {
  open: number;
  data: { state: string; reason: string }[];
}

async function system() {
  const library = buildFakeProfitDll();
  const home = tempHome('ts-profitdll-dc-');
  const port = await freePort();
  const control = await freePort();
  const tapeStart = Date.now() + 500;
  const env = {
    ...configEnv(home, {
      services: {
        ...OTHERS_OFF,
        'data-capture': {
          port,
          broker: 'profitdll',
          journal: { segmentMaxAgeMs: 1_500, fsyncIntervalMs: 20 },
          recovery: {
            reconnectAttempts: 3,
            reconnectIntervalMs: 300,
            stallAfterMs: 600,
            escalateAfterMs: 5_000,
          },
        },
      },
      profitdll: { library, credentialsFile: writeCredentials(home) },
      supervisor: {
        healthIntervalMs: 200,
        backoffInitialMs: 200,
        backoffMaxMs: 1_000,
        stopTimeoutMs: 20_000,
      },
    }),
    FAKEPROFIT_TAPE: TAPE.map((t) => `${t.ticker}:${t.exchange}:${t.rate}`).join(','),
    FAKEPROFIT_TAPE_START_MS: String(tapeStart),
    FAKEPROFIT_CONTROL_PORT: String(control),
  };
  const base = `http://127.0.0.1:${port}`;
  const tape = tapeOf(library);
  return {
    home,
    env,
    base,
    /** How many trades the tape has printed of a ticker by `at`. */
    printed: (ticker: string, at: number) => {
      const rate = TAPE.find((t) => t.ticker === ticker)?.rate ?? 0;
      return at < tapeStart ? 0 : Math.floor(((at - tapeStart) * rate) / 1000) + 1;
    },
    tapeTrade: (ticker: string, n: number) =>
      tape(ticker, TAPE.find((t) => t.ticker === ticker)?.rate ?? 0, tapeStart, n),
    command: (line: string) => fakeCommand(control, line),
    status: () => getJson<Status>(`${base}/api/status`, { headers: internalHeaders(home) }),
    gaps: () => getJson<Gaps>(`${base}/api/gaps`, { headers: internalHeaders(home) }),
  };
}
type System = Awaited<ReturnType<typeof system>>;

const supervisors = new Supervisors();

async function dataCapturePid(s: System): Promise<number> {
  const res = await runCli(['status', '--json'], s.env);
  const st = JSON.parse(res.stdout) as { processes: { name: string; pid: number | null; state: string }[] };
  const p = st.processes.find((x) => x.name === 'data-capture');
  return p?.state === 'healthy' || p?.state === 'degraded' ? (p.pid ?? 0) : 0;
}

/** Every ticker captured through at least what the tape had printed by `at`, with no gap open. */
async function caughtUp(s: System, at: number) {
  await waitFor(
    'capture caught up with the tape',
    async () => {
      const [st, g] = await Promise.all([s.status(), s.gaps()]);
      return (
        st.broker.state === 'Active' &&
        g.open === 0 &&
        TAPE.every((t) => (st.cursors[t.ticker]?.lastTradeId ?? 0) >= s.printed(t.ticker, at))
      );
    },
    60_000,
    200,
  );
}

describe('data-capture on ProfitDLL (the fake DLL in C)', () => {
  it('logs in, captures the tape, survives a dropped connection and a kill -9, and holds every trade the fake printed exactly once, as printed', async () => {
    const s = await system();
    supervisors.start(s.env);
    const firstPid = await waitFor('data-capture up', () => dataCapturePid(s), 60_000);
    await caughtUp(s, Date.now());
    const trades = await fetch(`${s.base}/api/trades?ticker=PETR4&order=desc&limit=1`, {
      headers: internalHeaders(s.home),
    }).then((r) => r.json() as Promise<{ data: { tradeId: number; price: number }[] }>);
    const last = trades.data[0];
    expect(last?.price).toBe(s.tapeTrade('PETR4', last?.tradeId ?? 0).price);

    // check-connection shows the DLL's own states beside ours; nothing shows a secret.
    const check = await runCli(['check-connection'], s.env);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/broker session\s+Active/);
    expect(check.stdout).toMatch(
      /ProfitDLL\s+login LOGIN_CONNECTED · routing - · market MARKET_CONNECTED · activation CONNECTION_ACTIVATE_VALID/,
    );
    expect(check.stdout).toMatch(/market MARKET_CONNECTING\n.*market MARKET_CONNECTED/);
    const metrics = await fetch(`${s.base}/metrics`).then((r) => r.text());
    expect(
      Number(/tradingsystem_profitdll_callbacks_total\{kind="trade"\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThan(0);
    expect(metrics).toMatch(/tradingsystem_profitdll_state\{type="market"\} 4/);
    const seen = [
      check.stdout,
      metrics,
      await fetch(`${s.base}/health`).then((r) => r.text()),
      JSON.stringify(await s.status()),
    ].join('\n');
    for (const secret of ['key-123', 's3cret-pass', 'sign-pass', 'trader@example.com'])
      expect(seen).not.toContain(secret);

    // The DLL drops market data: our state leaves Active, and on its return we subscribe again
    // (the fake forgets subscriptions) and fetch what printed meanwhile from GetHistoryTrades.
    expect(await s.command('disconnect')).toBe('ok');
    await waitFor('not Active', async () => (await s.status()).broker.state !== 'Active', 10_000, 50);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await s.command('reconnect')).toBe('ok');
    await caughtUp(s, Date.now());
    expect((await s.gaps()).data.some((g) => g.state === 'filled')).toBe(true);
    // Live again, not only backfilled: the capture keeps up with the tape by itself.
    await new Promise((r) => setTimeout(r, 1_500));
    await caughtUp(s, Date.now() - 200);

    process.kill(firstPid, 'SIGKILL');
    const secondPid = await waitFor(
      'restarted',
      async () => {
        const pid = await dataCapturePid(s);
        return pid && pid !== firstPid ? pid : 0;
      },
      60_000,
    );
    expect(secondPid).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1_000));
    const restartedBy = Date.now();
    await caughtUp(s, restartedBy);
    const gaps = (await s.gaps()).data;
    expect((await supervisors.stop()).code).toBe(0);
    expect(
      gaps.filter((g) => g.state !== 'filled'),
      'every gap filled from history, none skipped',
    ).toEqual([]);

    const numbers = await tradeNumbersInParquet(s.home);
    for (const { ticker } of TAPE) {
      const n = numbers[ticker];
      expect(n, ticker).toBeDefined();
      expect(n?.max, ticker).toBeGreaterThanOrEqual(s.printed(ticker, restartedBy));
      const rows = await duck(
        `SELECT trade_id, epoch_ms(ts)::DOUBLE AS ts, price, qty FROM read_parquet('${s.home}/parquet/trades/*/*/*.parquet', hive_partitioning = true, union_by_name = true) WHERE ticker = '${ticker}' ORDER BY trade_id`,
      );
      const held = new Set(rows.map((r) => Number(r.trade_id)));
      const lost = Array.from({ length: n?.max ?? 0 }, (_, i) => i + 1).filter((id) => !held.has(id));
      expect(lost, `${ticker}: trades not captured; gaps ${JSON.stringify(gaps)}`).toEqual([]);
      expect(n, ticker).toEqual({ rows: n?.max, distinct: n?.max, min: 1, max: n?.max });
      const wrong = rows.filter((r) => {
        const printed = s.tapeTrade(ticker, Number(r.trade_id));
        return (
          printed.ts !== Number(r.ts) || printed.price !== Number(r.price) || printed.qty !== Number(r.qty)
        );
      });
      expect(wrong.slice(0, 3), `${ticker}: trades that differ from what the fake printed`).toEqual([]);
    }
  }, 240_000);
});
