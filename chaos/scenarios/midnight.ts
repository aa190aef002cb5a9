import { existsSync } from 'node:fs';
import { isWholeHourZone } from '../../src/kernel/time.js';
import { allOrders, tapeTruthAt, venueBook } from '../lib/checks.js';
import { bringUp, finish } from '../lib/harness.js';
import { OrderLoad } from '../lib/load.js';
import type { Scenario } from '../lib/scenario.js';
import { TICKERS } from '../lib/system.js';
import { localDate, nextLocalMidnight, pollUntil, secs, sleep, sleepUntil } from '../lib/util.js';

/** Every zone this ICU knows (Node 20: Intl.supportedValuesOf), plus the fixed-offset Etc zones. */
function zones(): string[] {
  const etc = Array.from({ length: 27 }, (_, i) => i - 12)
    .filter((h) => h !== 0)
    .map((h) => `Etc/GMT${h > 0 ? '-' : '+'}${Math.abs(h)}`); // Etc/GMT-5 is UTC+5
  const all = (Intl as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  return [...new Set([...all, ...etc, 'Etc/UTC'])];
}

/**
 * The zone whose next local midnight comes soonest after `leadMs` from now, among those config
 * accepts (a whole number of hours off UTC): Etc/GMT±N has one for every hour, so one's midnight is
 * at most an hour away.
 */
export function nearestMidnight(leadMs: number): { zone: string; midnight: number } {
  const now = Date.now();
  let best: { zone: string; midnight: number } | null = null;
  for (const zone of zones()) {
    try {
      let m = nextLocalMidnight(zone, now);
      if (m - now < leadMs) m = nextLocalMidnight(zone, m + 1_000);
      // A DST change in the next day would move it: make sure the date really turns there.
      if (localDate(zone, m - 1) === localDate(zone, m)) continue;
      if ((!best || m < best.midnight) && isWholeHourZone(zone)) best = { zone, midnight: m };
    } catch {
      // zone unknown to this ICU
    }
  }
  if (!best) throw new Error('no zone found');
  return best;
}

export const midnight: Scenario = {
  name: 'midnight',
  title:
    'the clock crosses midnight in the configured zone under load: sessions, partitions, DAY orders, HALTED, logs',
  findings: [7],
  profiles: ['full'],
  budgetMs: () => 70 * 60_000,
  async run(ctx) {
    const lead = 80_000;
    const { zone, midnight: m } = nearestMidnight(lead);
    const startAt = m - lead;
    ctx.log(
      `zone ${zone}: midnight at ${new Date(m).toISOString()}; starting in ${secs(startAt - Date.now())}`,
    );
    await sleepUntil(startAt);
    const r = await bringUp(
      ctx,
      {
        name: 'midnight',
        tradesPerSecond: 200,
        timezone: zone,
        openAt: Date.now() + 1_000,
        closeAt: m + 40_000,
        marketMs: 0,
      },
      {},
    );
    ctx.note('midnight', { zone, at: new Date(m).toISOString() });
    if (!(await r.sys.orderManagerReady())) throw new Error('order manager not ready');
    await r.sys.wideRiskLimits();
    const before = new OrderLoad(r.sys, {
      perSecond: 5,
      prefix: 'chaos-midnight-a',
      until: m - 38_000,
    }).start();
    ctx.defer('stop load a', () => before.stop());

    // DAY orders resting far from the market: they expire at the session's end.
    const day: string[] = [];
    for (const [i, side] of ['BUY', 'SELL'].entries()) {
      const res = await r.sys.call('order-manager', 'POST', '/api/orders', {
        symbol: 'WINZ26',
        side,
        type: 'LIMIT',
        price: side === 'BUY' ? 100_000 : 160_000,
        quantity: 1,
        timeInForce: 'DAY',
        clientOrderId: `chaos-day-${i}`,
      });
      if (res.status === 201) day.push(res.body.data.id);
    }
    // Make the daily loss limit halt trading before midnight: it must be ACTIVE again in the new session.
    // The state moves on a fill, and with the loss reached only orders that reduce a position (open
    // orders on the same side included) are taken: WDOZ26's resting orders canceled, one lot held, the
    // limit lowered under today's P&L, then that lot sold. (The DAY orders are on WINZ26.)
    await sleepUntil(m - 37_000);
    const symbol = 'WDOZ26';
    const market = (side: string, id: string) =>
      r.sys.call('order-manager', 'POST', '/api/orders', {
        symbol,
        side,
        type: 'MARKET',
        quantity: 1,
        clientOrderId: id,
      });
    await before.stop(); // the position must not move meanwhile
    await r.sys.call('order-manager', 'POST', '/api/orders/cancel-all', {
      symbol,
      reason: 'chaos: midnight set-up',
    });
    // Every open order of the symbol gone (an open one on the reducing side makes the reduction
    // count as a new position and be refused), however long the cancels take to be confirmed.
    const openOnSymbol = async () =>
      (
        ((await r.sys.call('order-manager', 'GET', `/api/orders?symbol=${symbol}&limit=1000`)).body?.data ??
          []) as { status: string }[]
      ).filter((o) => !['REJECTED', 'FILLED', 'CANCELED', 'EXPIRED'].includes(o.status)).length;
    await pollUntil(async () => (await openOnSymbol()) === 0, 10_000, 250);
    const position = async () =>
      Number(
        ((await r.sys.call('order-manager', 'GET', '/api/positions')).body?.data ?? []).find(
          (p: { symbol: string }) => p.symbol === symbol,
        )?.quantity ?? 0,
      );
    let q = await position();
    const held = q === 0 ? await market('BUY', 'chaos-midnight-hold') : null;
    if (held) {
      await sleep(1_000);
      q = await position();
    }
    await r.sys.wideRiskLimits({ dailyLossLimit: 0.01, haltLossMultiplier: 1 });
    const pnl = (await r.sys.call('order-manager', 'GET', '/api/pnl')).body?.data?.total;
    const stillOpen = await openOnSymbol();
    const reduce = await market(q > 0 ? 'SELL' : 'BUY', 'chaos-midnight-reduce');
    const halted = await pollUntil(
      async () =>
        (await r.sys.call('order-manager', 'GET', '/api/risk/state')).body?.data?.tradingState === 'HALTED',
      20_000,
      250,
    );
    ctx.check(
      'the daily loss limit HALTED trading before midnight (set up)',
      halted !== null,
      `${halted ? 'HALTED' : 'never HALTED in 20 s'}; P&L R$${pnl}; ${symbol} position ${q}${held ? ` (bought one: ${held.status})` : ''}; reducing order ${reduce.status} ${reduce.body?.error?.code ?? ''} with ${stillOpen} open order(s) on ${symbol}`,
    );
    await sleepUntil(m - 8_000);
    await r.sys.wideRiskLimits();
    const lastBefore = await r.sys.truth().catch(() => null);
    await sleepUntil(m + 10_000);
    const state = (await r.sys.call('order-manager', 'GET', '/api/risk/state')).body?.data;
    ctx.check(
      'a HALTED from the daily loss limit is cleared at the new session (finding 7)',
      halted !== null && state?.tradingState === 'ACTIVE',
      halted === null
        ? 'not tested: trading never HALTED before midnight'
        : `trading state after midnight: ${state?.tradingState} ${state?.reason ?? ''}`,
    );
    const after = new OrderLoad(r.sys, {
      perSecond: 5,
      prefix: 'chaos-midnight-b',
      until: r.sys.closeAt - 1_500,
    }).start();
    ctx.defer('stop load b', () => after.stop());

    const orders = (await allOrders(r.sys)) ?? [];
    const dayNow = orders.filter((o) => day.includes(o.id));
    let venueDay: string[] = [];
    try {
      const v = venueBook(r.sys);
      venueDay = dayNow.map((o) => v.orders.get(o.clientOrderId)?.status ?? 'missing');
    } catch {
      venueDay = ['venue unreadable'];
    }
    ctx.check(
      'DAY orders resting at midnight expired, here and at the venue',
      day.length === 2 &&
        dayNow.every((o) => o.status === 'EXPIRED') &&
        venueDay.every((s) => s === 'EXPIRED'),
      `ours: ${dayNow.map((o) => o.status).join(', ') || 'none placed'}; venue: ${venueDay.join(', ')}`,
    );
    // A line after midnight in every service's log (a 404 is logged), so each has a reason to roll.
    await Promise.all(r.sys.services.map((svc) => r.sys.call(svc, 'GET', '/chaos-after-midnight')));
    const newDate = localDate(zone, m + 1_000);
    const rolled = r.sys.services.filter((s) => !existsSync(r.sys.logFile(s, newDate)));
    ctx.check(
      `every service's log rolled to ${newDate}.jsonl`,
      rolled.length === 0,
      rolled.length ? `no new file: ${rolled.join(', ')}` : 'all rolled',
    );

    const day1 = tapeTruthAt(r.sys, m - 1);
    if (lastBefore)
      ctx.check(
        'the simulator numbered the old session up to the tape’s last trade before midnight',
        TICKERS.every((t) => (lastBefore.instruments[t]?.lastTradeId ?? 0) <= (day1[t] ?? 0)),
        `8 s before midnight ${TICKERS.map((t) => `${t} ${lastBefore.instruments[t]?.lastTradeId}`).join(', ')}; session end ${TICKERS.map((t) => `${t} ${day1[t]}`).join(', ')}`,
      );
    await finish(ctx, r, {
      orderLoads: [before, after],
      partitionZone: zone,
      sessions: (truth) => [
        { label: localDate(zone, m - 1), from: r.sys.openAt, to: m, expected: day1 },
        { label: newDate, from: m, to: r.sys.closeAt, expected: truth },
      ],
    });
  },
};
