import path from 'node:path';
import { Filler, freeBytes } from '../lib/disk.js';
import { bringUp, finish, kill9, type Running } from '../lib/harness.js';
import type { Scenario } from '../lib/scenario.js';
import { secs, sleep } from '../lib/util.js';
import { RECOVERY_OBJECTIVES_MS } from '../lib/watch.js';

/** The query tail's bound in this scenario (small, so the chaos rates reach it). */
const TAIL_MAX = 20_000;

/** Samples data-capture's query tail (its /metrics) every second until stopped; the largest seen. */
function watchTail(r: Running): { stop: () => Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const res = await r.sys.call('data-capture', 'GET', '/metrics', undefined, {}, 2_000);
      const m =
        typeof res.body === 'string' &&
        res.body.match(/^tradingsystem_data_capture_query_tail_trades (\d+)/m);
      if (m) max = Math.max(max, Number(m[1]));
      await sleep(1_000);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return max;
    },
  };
}

export const overloadRestart: Scenario = {
  name: 'overload-restart',
  title:
    'data-capture killed with a Parquet backlog and again while catching up, at full rate: back by itself each time, never killed for silence, no trade lost',
  findings: [8],
  profiles: ['short', 'full'],
  budgetMs: (p) => (p === 'short' ? 180_000 : 300_000),
  async run(ctx) {
    const backlogMs = ctx.pick(12_000, 30_000);
    const r = await bringUp(
      ctx,
      {
        name: 'overload',
        tradesPerSecond: ctx.pick(1_000, 2_000),
        marketMs: backlogMs + ctx.pick(40_000, 60_000),
        config: {
          // Nearly full, not full: Parquet conversion pauses and the backlog grows; the journal goes on.
          disk: { warnFreePercent: 55, criticalFreePercent: 50 },
          services: { 'data-capture': { queryTailMaxTrades: TAIL_MAX } },
        },
      },
      {
        beforeStart: (sys, mounts) => mounts.loopExt4(path.join(sys.base, 'disk.img'), sys.home, 1_024),
      },
    );
    const tail = watchTail(r);
    ctx.defer('stop watching the tail', () => tail.stop());
    const before = await r.sys.status(3_000);
    const restartsBefore = before?.processes.find((p) => p.name === 'data-capture')?.restarts ?? 0;
    await sleep(3_000);

    const filler = new Filler(r.sys.home);
    ctx.defer('free the disk', () => filler.free());
    filler.fillTo(35);
    ctx.log(
      `disk nearly full: ${(freeBytes(r.sys.home) / 2 ** 20).toFixed(0)} MiB free; Parquet conversion pauses`,
    );
    await sleep(backlogMs);
    // Said once the query tail overflows, which a loaded machine reaches a little later.
    const says = (h: Awaited<ReturnType<typeof r.sys.health>>) =>
      h.failing.some((f) => /paused/.test(f) && /not all queryable/.test(f));
    let paused = await r.sys.health('data-capture');
    for (const until = Date.now() + 10_000; !says(paused) && Date.now() < until; ) {
      await sleep(500);
      paused = await r.sys.health('data-capture');
    }
    ctx.check(
      'data-capture says Parquet is paused and which trades are not queryable yet',
      says(paused),
      paused.failing.join('; ') || `${paused.http} ${paused.status}`,
    );

    const k1 = await kill9(r.sys, 'data-capture');
    if (!k1) throw new Error('data-capture had no pid to kill');
    ctx.log(`kill -9 data-capture (pid ${k1.pid}) with a backlog of ${secs(backlogMs)}`);
    // Still degraded on purpose (the disk is nearly full): serving is what must come back.
    await r.watch.expectRecovery(
      ctx,
      ['data-capture'],
      k1.at,
      RECOVERY_OBJECTIVES_MS['data-capture'],
      'kill -9 with a Parquet backlog',
      'serving',
    );

    // Catching up: the outage backfilled, the stream resuming its feed, the backlog converting.
    filler.free();
    ctx.log('disk freed: conversion resumes');
    await sleep(1_500);
    const k2 = await kill9(r.sys, 'data-capture');
    if (!k2) throw new Error('data-capture had no pid to kill');
    ctx.log(`kill -9 data-capture (pid ${k2.pid}) while it catches up`);
    await r.watch.expectRecovery(
      ctx,
      ['data-capture'],
      k2.at,
      RECOVERY_OBJECTIVES_MS['data-capture'],
      'kill -9 while catching up',
    );
    r.watch.record(ctx, 'data-capture', 'two kills under load', k1.at, Date.now());
    const steadyPid = await r.sys.pid('data-capture');
    await sleep(15_000);

    const after = await r.sys.status(3_000);
    const restarts =
      (after?.processes.find((p) => p.name === 'data-capture')?.restarts ?? 0) - restartsBefore;
    const silenceKills = r.sys
      .logEvents('supervisor', 'supervisor.liveness_failed')
      .filter((l) => l.includes('"service":"data-capture"'));
    ctx.check(
      'data-capture restarted for our two kills only, never killed for not answering',
      restarts === 2 && silenceKills.length === 0 && (await r.sys.pid('data-capture')) === steadyPid,
      `${restarts} restart(s), ${silenceKills.length} liveness kill(s), pid ${steadyPid} -> ${await r.sys.pid('data-capture')}`,
    );
    const maxTail = await tail.stop();
    ctx.check(
      `the query tail stayed within its bound (${TAIL_MAX} trades)`,
      maxTail > 0 && maxTail <= TAIL_MAX,
      `largest seen: ${maxTail} trades`,
      { maxTail },
    );
    await finish(ctx, r);
  },
};
