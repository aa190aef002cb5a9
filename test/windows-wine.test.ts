import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, internalHeaders, tempHome, waitFor } from './helpers/cli.js';
import { getJson } from './helpers/market.js';
import { buildFakeProfitDll, fakeCommand, tapeOf, writeCredentials } from './helpers/profitdll.js';
import { runWindowsCli, type WindowsRuntime, windowsRuntime, winPath } from './helpers/windows.js';

/**
 * The desk's machine is Windows: here Wine runs Node for Windows over this build, with the fake
 * ProfitDLL built by MinGW as a real Windows DLL. Narrowed to what loads there: data-capture
 * (koffi and DuckDB have Windows builds on npm) and docs; the order manager, the gateway and the
 * idea bank need better-sqlite3, whose Windows builds come only from GitHub.
 */
let rt: WindowsRuntime;
beforeAll(() => {
  rt = windowsRuntime();
}, 900_000);

interface Status {
  broker: { state: string; library?: { states: Record<string, string | null> } };
  cursors: Record<string, { lastTradeId: number } | null>;
}

describe('Windows (Node for Windows under Wine)', () => {
  it('the supervisor starts data-capture on the Windows ProfitDLL: Active, trades journaled and queryable, a reconnect resubscribed and backfilled; and stops it in order', async () => {
    const home = tempHome('ts-windows-');
    const port = await freePort();
    const control = await freePort();
    const rate = 40;
    const tapeStart = Date.now();
    const dll = buildFakeProfitDll('windows', home);
    const config = path.join(home, 'tradingsystem.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        services: {
          'data-capture': { port, broker: 'profitdll' },
          docs: { port: await freePort() },
          ...Object.fromEntries(
            ['order-manager', 'stream', 'gateway', 'idea-bank'].map((n) => [n, { enabled: false }]),
          ),
        },
        profitdll: { library: winPath(dll), credentialsFile: winPath(writeCredentials(home)) },
        supervisor: { metricsPort: 0, healthIntervalMs: 500, stopTimeoutMs: 30_000 },
      }),
    );
    const env = {
      TRADINGSYSTEM_HOME: winPath(home),
      TRADINGSYSTEM_CONFIG: winPath(config),
      FAKEPROFIT_TAPE: `PETR4:B:${rate},WINZ26:F:${rate}`,
      FAKEPROFIT_TAPE_START_MS: String(tapeStart),
      FAKEPROFIT_CONTROL_PORT: String(control),
    };
    const base = `http://127.0.0.1:${port}`;
    const status = () => getJson<Status>(`${base}/api/status`, { headers: internalHeaders(home) });
    const printed = (at: number) => Math.floor(((at - tapeStart) * rate) / 1000) + 1;
    const caughtUp = (at: number) =>
      waitFor(
        'caught up with the tape',
        async () => {
          const s = await status();
          return (
            s.broker.state === 'Active' &&
            ['PETR4', 'WINZ26'].every((t) => (s.cursors[t]?.lastTradeId ?? 0) >= printed(at))
          );
        },
        120_000,
        250,
      );
    const out = path.join(home, 'supervisor.out');
    const supervisor = runWindowsCli(rt, ['start'], env, out);
    try {
      await waitFor(
        'data-capture Active under Wine',
        async () => (await status()).broker.state === 'Active',
        240_000,
        500,
      );
      const s = await status();
      expect(s.broker.library?.states).toMatchObject({
        market: 'MARKET_CONNECTED',
        activation: 'CONNECTION_ACTIVATE_VALID',
      });
      await caughtUp(Date.now());

      // Queryable, as the fake printed them (its own record, asked of the Linux build of the same C).
      const tape = tapeOf(buildFakeProfitDll());
      const trades = await getJson<{ data: { tradeId: number; price: number; qty: number; ts: string }[] }>(
        `${base}/api/trades?ticker=PETR4&limit=50`,
        { headers: internalHeaders(home) },
      );
      expect(trades.data.length).toBeGreaterThan(10);
      for (const t of trades.data)
        expect(tape('PETR4', rate, tapeStart, t.tradeId)).toEqual({
          ts: Date.parse(t.ts),
          price: t.price,
          qty: t.qty,
        });
      expect(readdirSync(path.join(home, 'journal')).length).toBeGreaterThan(0);

      expect(await fakeCommand(control, 'disconnect')).toBe('ok');
      await waitFor('not Active', async () => (await status()).broker.state !== 'Active', 30_000, 100);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await fakeCommand(control, 'reconnect')).toBe('ok');
      await caughtUp(Date.now());
      await new Promise((r) => setTimeout(r, 2_000));
      await caughtUp(Date.now() - 500); // live again, not only backfilled
      const gaps = await getJson<{ open: number; data: { state: string }[] }>(`${base}/api/gaps`, {
        headers: internalHeaders(home),
      });
      expect(gaps.open).toBe(0);
      expect(gaps.data.filter((g) => g.state !== 'filled')).toEqual([]);

      const stop = runWindowsCli(rt, ['stop'], env, path.join(home, 'stop.out'));
      expect(await stop.exited, readFileSync(path.join(home, 'stop.out'), 'utf8')).toBe(0);
      expect(await supervisor.exited).toBe(0);
      const logs = readdirSync(path.join(home, 'logs'), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.jsonl'))
        .map((f) => readFileSync(path.join(home, 'logs', f), 'utf8'))
        .join('\n');
      // Asked over the IPC channel (no signals on Windows), each service shut down in order.
      expect(logs.match(/"reason":"supervisor stop"/g)?.length).toBe(2);
    } finally {
      supervisor.child.kill('SIGKILL');
    }
  }, 900_000);
});
