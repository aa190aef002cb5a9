import path from 'node:path';
import { Filler, freeBytes } from '../lib/disk.js';
import { bringUp, finish, journalDir, kill9 } from '../lib/harness.js';
import type { Outcome } from '../lib/load.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import { type ChaosSystem, isGone, type ServiceName } from '../lib/system.js';
import { secs, sleep } from '../lib/util.js';
import type { Watch } from '../lib/watch.js';

const DISK_REASON = /journal|disk|space|ENOSPC|full|read-only|EROFS|EPERM|readonly|write/i;

/** Restart counts per service from the supervisor, null when it does not answer. */
async function restarts(sys: ChaosSystem): Promise<Record<string, number> | null> {
  const st = await sys.status(2_000);
  return st && Object.fromEntries(st.processes.map((p) => [p.name, p.restarts]));
}

/** Not a single `failed` (given up) state for any service in the window. */
function expectNeverFailed(
  ctx: ScenarioContext,
  watch: Watch,
  services: ServiceName[],
  from: number,
  to: number,
  label: string,
) {
  const failed = services.filter((s) => watch.between(s, from, to).some((x) => x.sup === 'failed'));
  ctx.check(
    `no service given up (failed) during ${label}`,
    failed.length === 0,
    failed.length ? `failed: ${failed.join(', ')}` : 'none failed',
  );
}

/** The supervisor lived through it: same pid, alive, its control endpoint answering. */
async function expectSupervisorSurvived(ctx: ScenarioContext, sys: ChaosSystem, pid: number, label: string) {
  const st = await sys.status(3_000);
  ctx.check(
    `the supervisor survived ${label}`,
    !isGone(pid) && st?.pid === pid,
    isGone(pid)
      ? `supervisor pid ${pid} died`
      : st
        ? `pid ${st.pid} answering`
        : `pid ${pid} alive but not answering`,
  );
}

/** Orders answered while a write fault lasted: a 201, or a refusal with an error code; never a 500 or silence. */
function expectOrdersDegradedCleanly(ctx: ScenarioContext, outcomes: Outcome[], label: string) {
  const bad = outcomes.filter(
    (o) => o.kind === 'none' || (o.kind === 'refused' && (o.status === 500 || o.code === '?')),
  );
  const refused = outcomes.filter((o) => o.kind === 'refused' && o.status === 503);
  const by: Record<string, number> = {};
  for (const o of outcomes) {
    const k = o.kind === 'refused' ? `${o.status} ${o.code}` : o.kind;
    by[k] = (by[k] ?? 0) + 1;
  }
  ctx.check(
    `order manager answered every order during ${label} (201, or 503 with a code; never 500, never silence)`,
    outcomes.length > 0 && bad.length === 0,
    `${outcomes.length} orders: ${Object.entries(by)
      .map(([k, n]) => `${k} ×${n}`)
      .join(', ')}`,
    { answers: by, refused503: refused.length },
  );
  return refused.length;
}

export const diskFull: Scenario = {
  name: 'disk-full',
  title:
    'the data disk (a loop-mounted ext4) full, then freed: everything degrades, nothing dies, all come back',
  findings: [2],
  profiles: ['short', 'full'],
  budgetMs: (p) => (p === 'short' ? 180_000 : 260_000),
  async run(ctx) {
    const holdMs = ctx.pick(15_000, 40_000);
    const r = await bringUp(
      ctx,
      { name: 'disk-full', marketMs: holdMs + 25_000, tradesPerSecond: 200 },
      {
        ordersPerSecond: 10,
        beforeStart: (sys, mounts) => mounts.loopExt4(path.join(sys.base, 'disk.img'), sys.home, 512),
      },
    );
    await sleep(4_000);
    const spid = r.sys.supervisorPid();
    if (!spid) throw new Error('no supervisor pid');
    const filler = new Filler(r.sys.home);
    ctx.defer('free the disk', () => filler.free());
    const held = filler.fill();
    const t = Date.now();
    ctx.log(`disk full: ${(held / 2 ** 20).toFixed(0)} MiB filler, ${freeBytes(r.sys.home)} bytes free`);
    // A state change makes the supervisor write its state file on the full disk.
    const k = await kill9(r.sys, 'idea-bank');
    ctx.log(`kill -9 idea-bank (pid ${k?.pid}) so the supervisor must write its state`);
    while (Date.now() < t + holdMs) {
      await sleep(2_000);
      filler.topUp();
    }
    const status = await r.sys.cli(['status', '--json'], 15_000);
    ctx.check(
      'tradingsystem status answers while the disk is full',
      status.code === 0,
      `exit ${status.code}`,
    );
    await expectSupervisorSurvived(ctx, r.sys, spid, 'the full disk');
    const refused = expectOrdersDegradedCleanly(
      ctx,
      r.orders?.between(t + 1_000, t + holdMs) ?? [],
      'the full disk',
    );
    r.watch.expectTruthful(ctx, {
      service: 'data-capture',
      during: 'the full disk',
      from: t,
      to: t + holdMs,
      graceMs: 5_000,
      reason: DISK_REASON,
      mustAnswer: true,
    });
    if (refused > 0)
      r.watch.expectTruthful(ctx, {
        service: 'order-manager',
        during: 'the full disk (orders refused)',
        from: t,
        to: t + holdMs,
        graceMs: 5_000,
        reason: DISK_REASON,
        mustAnswer: true,
      });
    else r.watch.record(ctx, 'order-manager', 'the full disk', t, t + holdMs);
    expectNeverFailed(ctx, r.watch, r.sys.services, t, t + holdMs, 'the full disk');
    filler.free();
    const t2 = Date.now();
    ctx.log(`disk freed: ${(freeBytes(r.sys.home) / 2 ** 20).toFixed(0)} MiB free`);
    await r.watch.expectRecovery(ctx, r.sys.services, t2, 30_000, 'disk freed');
    await sleep(3_000);
    const lateOk = r.orders?.between(t2 + 5_000, Date.now()).filter((o) => o.kind === 'created').length ?? 0;
    ctx.check(
      'orders are acknowledged again once the disk has space',
      lateOk > 0,
      `${lateOk} acknowledged since`,
    );
    await finish(ctx, r);
  },
};

export const readOnlyJournal: Scenario = {
  name: 'readonly-journal',
  title:
    'the journal folder turned read-only under data-capture, then writable: /health down with the reason, it resumes by itself',
  findings: [3],
  profiles: ['short', 'full'],
  budgetMs: (p) => (p === 'short' ? 150_000 : 220_000),
  async run(ctx) {
    const holdMs = ctx.pick(15_000, 40_000);
    const r = await bringUp(ctx, { name: 'ro-journal', marketMs: holdMs + 22_000 }, { ordersPerSecond: 5 });
    await sleep(4_000);
    const dir = journalDir(r.sys);
    const before = await restarts(r.sys);
    r.mounts.readOnly(dir);
    const t = Date.now();
    ctx.defer('journal folder writable again', () => r.mounts.writable(dir));
    ctx.log('journal folder read-only');
    await sleep(holdMs);
    const during = await restarts(r.sys);
    // A segment rolls every 2 s: by then the journal has failed to open its next file.
    r.watch.expectTruthful(ctx, {
      service: 'data-capture',
      during: 'the read-only journal folder',
      from: t,
      to: t + holdMs,
      graceMs: 5_000,
      reason: DISK_REASON,
      mustAnswer: true,
    });
    ctx.check(
      'data-capture did not crash (degraded in place) while the journal was read-only',
      before !== null && during !== null && during['data-capture'] === before['data-capture'],
      `restarts ${before?.['data-capture'] ?? '?'} -> ${during?.['data-capture'] ?? '?'}`,
    );
    expectNeverFailed(ctx, r.watch, ['data-capture'], t, t + holdMs, 'the read-only journal');
    await r.mounts.writable(dir);
    const t2 = Date.now();
    ctx.log('journal folder writable again');
    await r.watch.expectRecovery(ctx, ['data-capture'], t2, 20_000, 'journal writable again');
    await finish(ctx, r);
  },
};

export const readOnlyHome: Scenario = {
  name: 'readonly-home',
  title:
    'the whole data home read-only (new files fail) with the order manager restarting on it, then writable',
  findings: [2, 3],
  profiles: ['full'],
  budgetMs: () => 220_000,
  async run(ctx) {
    const holdMs = 30_000;
    const r = await bringUp(ctx, { name: 'ro-home', marketMs: holdMs + 35_000 }, { ordersPerSecond: 10 });
    await sleep(5_000);
    const spid = r.sys.supervisorPid();
    if (!spid) throw new Error('no supervisor pid');
    r.mounts.readOnly(r.sys.home);
    const t = Date.now();
    ctx.defer('data home writable again', () => r.mounts.writable(r.sys.home));
    const k = await kill9(r.sys, 'order-manager');
    ctx.log(`data home read-only; kill -9 order-manager (pid ${k?.pid}) so it must start on it`);
    await sleep(holdMs);
    await expectSupervisorSurvived(ctx, r.sys, spid, 'the read-only data home');
    r.watch.expectTruthful(ctx, {
      service: 'data-capture',
      during: 'the read-only data home',
      from: t,
      to: t + holdMs,
      graceMs: 5_000,
      reason: DISK_REASON,
      mustAnswer: true,
    });
    r.watch.expectTruthful(ctx, {
      service: 'order-manager',
      during: 'the read-only data home (after its restart)',
      from: t,
      to: t + holdMs,
      graceMs: 10_000,
      reason: DISK_REASON,
      mustAnswer: true,
    });
    expectNeverFailed(ctx, r.watch, r.sys.services, t, t + holdMs, 'the read-only data home');
    await r.mounts.writable(r.sys.home);
    const t2 = Date.now();
    await r.watch.expectRecovery(ctx, r.sys.services, t2, 30_000, 'data home writable again');
    ctx.log(`recovered; ${secs(Date.now() - t2)} after the disk came back`);
    await finish(ctx, r);
  },
};
