import { tapeTruthAt } from '../lib/checks.js';
import { bringUp, finish, kill9 } from '../lib/harness.js';
import type { Scenario } from '../lib/scenario.js';
import { type ChaosSystem, TICKERS } from '../lib/system.js';
import { localDate, nextLocalMidnight, pollUntil, secs, sleep, sleepUntil } from '../lib/util.js';

const fault = (sys: ChaosSystem, kind: string, durationMs: number) =>
  sys.call('data-capture', 'POST', '/api/sim/faults', { kind, durationMs });

const brokerActive = async (sys: ChaosSystem) =>
  (await sys.call('data-capture', 'GET', '/api/status', undefined, {}, 2_000)).body?.broker?.state ===
  'Active';

/**
 * A zone whose date differs from São Paulo's now and whose midnight is more than `awayMs` off: a
 * Parquet partition dated in São Paulo instead of the configured zone shows (finding 7).
 */
export function zoneWithAnotherDate(awayMs: number): string {
  const now = Date.now();
  const sp = localDate('America/Sao_Paulo', now);
  for (const zone of ['Pacific/Kiritimati', 'Etc/GMT+12', 'Asia/Tokyo', 'Pacific/Honolulu']) {
    if (localDate(zone, now) !== sp && nextLocalMidnight(zone, now) - now > awayMs) return zone;
  }
  throw new Error('no zone with a different date found');
}

export const disconnects: Scenario = {
  name: 'broker-disconnects',
  title: '10 broker disconnects in a minute: each one seen in /health, every trade still captured once',
  findings: [],
  profiles: ['full'],
  budgetMs: () => 200_000,
  async run(ctx) {
    const count = 10;
    const r = await bringUp(
      ctx,
      { name: 'disconnects', marketMs: 75_000, tradesPerSecond: 300 },
      { ordersPerSecond: 5 },
    );
    await pollUntil(() => brokerActive(r.sys), 20_000);
    const windows: { at: number; seen: boolean }[] = [];
    for (let i = 0; i < count; i++) {
      const at = Date.now();
      const res = await fault(r.sys, 'disconnect', 1_500);
      if (res.status !== 202) ctx.log(`disconnect ${i + 1} answered ${res.status}`);
      await sleep(at + 6_000 - Date.now());
      windows.push({ at, seen: false });
    }
    const last = windows.at(-1)?.at ?? Date.now();
    await r.watch.expectRecovery(ctx, ['data-capture'], last + 1_500, 20_000, 'after the last disconnect');
    for (const w of windows) {
      w.seen = r.watch
        .between('data-capture', w.at, w.at + 6_000)
        .some((s) => s.http !== null && s.failing.some((f) => f.startsWith('broker')));
    }
    const seen = windows.filter((w) => w.seen).length;
    ctx.check(
      `/health showed each of the ${count} disconnects (broker check not ok)`,
      seen === count,
      `${seen} of ${count} seen`,
    );
    r.watch.record(ctx, 'data-capture', `${count} disconnects`, windows[0]?.at ?? 0, last + 6_000);
    const escalations = r.sys.logEvents('data-capture', 'broker.escalation').length;
    ctx.check(
      'short disconnects did not escalate',
      escalations === 0,
      `${escalations} broker.escalation log lines`,
    );
    await finish(ctx, r);
  },
};

export const stallAcrossClose: Scenario = {
  name: 'stall-close',
  title: 'a 10 s feed stall across the session close, in a zone whose date is not São Paulo’s',
  findings: [1, 7],
  profiles: ['full'],
  budgetMs: () => 150_000,
  async run(ctx) {
    const zone = zoneWithAnotherDate(10 * 60_000);
    const r = await bringUp(
      ctx,
      { name: 'stall-close', marketMs: 40_000, tradesPerSecond: 300, timezone: zone },
      { ordersPerSecond: 5 },
    );
    if (r.sys.closeAt - Date.now() < 13_000)
      throw new Error(`the system took until ${secs(r.sys.closeAt - Date.now())} before the close to start`);
    // 8 s before the close: stall detection (5 s of silence while the market is open) has 3 s of
    // open market left to say so; the stall then runs 2 s past the close.
    await sleepUntil(r.sys.closeAt - 8_000);
    const t = Date.now();
    const res = await fault(r.sys, 'stall', 10_000);
    ctx.check('stall injected', res.status === 202, `POST /api/sim/faults answered ${res.status}`);
    await sleepUntil(t + 10_000);
    const stalled = r.watch.between('data-capture', t, t + 10_000);
    const flagged = stalled.filter((s) => s.http !== null && s.status !== 'ok');
    ctx.check(
      'data-capture /health said not ok during the 10 s stall (finding 7: stall detection)',
      flagged.length > 0,
      `${flagged.length} of ${stalled.length} samples not ok`,
    );
    r.watch.record(ctx, 'data-capture', '10 s stall across the close', t, t + 15_000);
    await finish(ctx, r, { partitionZone: zone });
  },
};

export const killBeforeClose: Scenario = {
  name: 'close-kill',
  title: 'kill -9 of data-capture 3 s before the session close: the last trades are backfilled',
  findings: [1],
  profiles: ['short', 'full'],
  budgetMs: () => 150_000,
  async run(ctx) {
    // The close is fixed when the system is configured; a start slower than START_ALLOWANCE_MS
    // (a busy host) must still leave orders flowing before the kill, so 20 s more of market.
    const r = await bringUp(
      ctx,
      { name: 'close-kill', marketMs: ctx.pick(35_000, 50_000), tradesPerSecond: 300 },
      { ordersPerSecond: 5 },
    );
    if (r.sys.closeAt - Date.now() < 8_000)
      throw new Error(`the system took until ${secs(r.sys.closeAt - Date.now())} before the close to start`);
    await sleepUntil(r.sys.closeAt - 3_000);
    const k = await kill9(r.sys, 'data-capture');
    if (!k) throw new Error('no data-capture pid');
    ctx.log(`kill -9 data-capture (pid ${k.pid}) ${secs(r.sys.closeAt - k.at)} before the close`);
    // Each sample: was it behind the market's final numbers, and what did /health say meanwhile.
    const final = tapeTruthAt(r.sys, r.sys.closeAt + 1_000);
    const lies: string[] = [];
    let samples = 0;
    const until = r.sys.closeAt + 10_000;
    while (Date.now() < until) {
      const [h, st] = await Promise.all([
        r.sys.health('data-capture', 1_500),
        r.sys.call('data-capture', 'GET', '/api/status', undefined, {}, 1_500),
      ]);
      if (h.http !== null && st.status === 200 && Date.now() > r.sys.closeAt + 1_000) {
        samples += 1;
        const behind = TICKERS.filter((t) => (st.body?.cursors?.[t]?.lastTradeId ?? 0) < (final[t] ?? 0));
        if (h.status === 'ok' && behind.length)
          lies.push(`${secs(Date.now() - r.sys.closeAt)} after close: ok while ${behind.join(', ')} behind`);
      }
      await sleep(300);
    }
    ctx.check(
      'data-capture /health never said ok while trades of the closed session were missing',
      samples > 0 && lies.length === 0,
      samples === 0
        ? 'no sample (data-capture never answered after the close)'
        : lies.length
          ? `${lies.length} of ${samples}: ${lies[0]}`
          : `${samples} samples, none lying`,
    );
    r.watch.record(ctx, 'data-capture', 'kill -9 3 s before the close', k.at, until);
    await r.watch.expectRecovery(ctx, ['data-capture'], k.at, 20_000, 'kill -9 before the close');
    await finish(ctx, r);
  },
};
