import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { venueBook } from '../lib/checks.js';
import { filesWithHash, garble, segments, sha256, tradeParquetFiles } from '../lib/files.js';
import { bringUp, finish, journalDir, type Running } from '../lib/harness.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import { ChaosSystem, type ServiceName } from '../lib/system.js';
import { pollUntil, signal, sleep } from '../lib/util.js';

/**
 * Stops one service while its supervisor is frozen (so it cannot restart it meanwhile), runs `fn`
 * on its files, then lets the supervisor go on: it restarts the service on what `fn` left.
 */
async function whileStopped(
  ctx: ScenarioContext,
  r: Running,
  svc: ServiceName,
  fn: () => void | Promise<void>,
  how: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): Promise<number> {
  const spid = r.sys.supervisorPid();
  const pid = await r.sys.pid(svc);
  if (!spid || !pid) throw new Error(`no supervisor or ${svc} pid`);
  ctx.defer('SIGCONT supervisor', () => signal(spid, 'SIGCONT'));
  signal(spid, 'SIGSTOP');
  try {
    signal(pid, how);
    if (!(await ChaosSystem.gone(pid, 30_000))) {
      signal(pid, 'SIGKILL');
      await ChaosSystem.gone(pid, 5_000);
    }
    await fn();
  } finally {
    signal(spid, 'SIGCONT');
  }
  return Date.now();
}

/** Supervisor crash events for a service: one is the stop we caused; more is a crash loop. */
const crashes = (r: Running, svc: ServiceName) =>
  r.sys.logEvents('supervisor', 'supervisor.crashed').filter((l) => l.includes(`"service":"${svc}"`)).length;

function expectNoCrashLoop(ctx: ScenarioContext, r: Running, svc: ServiceName, file: string) {
  const n = crashes(r, svc);
  ctx.check(
    `${svc} reports the damaged ${path.basename(file)} instead of crashing`,
    n <= 1,
    `${n} exit(s) (1 is the stop we caused)`,
    { exits: n },
  );
}

function expectKept(ctx: ScenarioContext, r: Running, file: string, hash: string) {
  const copies = filesWithHash(r.sys.home, hash);
  ctx.check(
    `the damaged ${path.basename(file)} is kept as found (never overwritten or deleted)`,
    copies.length > 0,
    copies.length
      ? `kept at ${copies.map((c) => path.relative(r.sys.home, c)).join(', ')}`
      : 'no file holds the damaged bytes any more',
  );
}

/** An operator restores a file and restarts the service, as the runbook says. */
async function restore(
  ctx: ScenarioContext,
  r: Running,
  svc: ServiceName,
  file: string,
  good: Buffer,
): Promise<void> {
  writeFileSync(file, good);
  const t = Date.now();
  const res = await r.sys.cli(['restart', svc], 120_000);
  ctx.log(`restored ${path.basename(file)}, tradingsystem restart ${svc}: exit ${res.code}`);
  await r.watch.expectRecovery(
    ctx,
    [svc],
    t,
    20_000,
    `${path.basename(file)} restored and ${svc} restarted (runbook)`,
  );
}

function ordersDbScenario(variant: 'empty' | 'missing', profiles: ('short' | 'full')[]): Scenario {
  return {
    name: `orders-db-${variant}`,
    title: `db/orders.sqlite ${variant === 'empty' ? 'truncated to 0 bytes' : 'deleted'}: the order manager refuses to start a new journal`,
    findings: [5],
    profiles,
    budgetMs: () => 180_000,
    async run(ctx) {
      const r = await bringUp(ctx, { name: `orders-${variant}`, marketMs: 32_000 }, { ordersPerSecond: 10 });
      await sleep(6_000);
      await r.orders?.stop();
      const file = path.join(r.sys.home, 'db', 'orders.sqlite');
      const backup = path.join(r.sys.base, 'orders-backup');
      const venueBefore = venueBook(r.sys);
      let t = await whileStopped(ctx, r, 'order-manager', () => {
        mkdirSync(backup, { recursive: true });
        for (const f of [file, `${file}-wal`, `${file}-shm`])
          if (existsSync(f)) copyFileSync(f, path.join(backup, path.basename(f)));
        if (variant === 'empty') truncateSync(file, 0);
        else rmSync(file);
        for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
      });
      ctx.log(`orders.sqlite ${variant}; the supervisor restarts the order manager on it`);
      await sleep(12_000);
      r.watch.expectTruthful(ctx, {
        service: 'order-manager',
        during: `an ${variant} orders.sqlite`,
        from: t + 6_000,
        to: Date.now(),
        graceMs: 0,
        reason: /journal|orders\.sqlite|empty|missing/i,
        mustAnswer: true,
      });
      const h = await r.sys.health('order-manager');
      const runbook = Object.values((h.body?.checks ?? {}) as Record<string, { runbook?: string }>).find(
        (c) => c.runbook,
      )?.runbook;
      const page = runbook ? await r.sys.call('docs', 'GET', `/api/docs/${runbook}`) : null;
      ctx.check(
        '/health names a runbook, and the handbook has it',
        page?.status === 200,
        runbook ? `runbook ${runbook}: docs answered ${page?.status}` : 'no runbook field in any check',
      );
      const list = await r.sys.call('order-manager', 'GET', '/api/orders');
      ctx.check(
        'GET /api/orders answers 503 (not an empty book)',
        list.status === 503,
        `answered ${list.status}${list.status === 200 ? ` with ${list.body?.total} orders` : ` ${list.body?.error?.code ?? ''}`}`,
      );
      const now = existsSync(file) ? statSync(file).size : null;
      ctx.check(
        `the ${variant} journal was not replaced by a new one`,
        variant === 'empty' ? now === 0 : now === null,
        now === null ? 'no file (as found)' : `${now} bytes now`,
      );
      let venueAfter: ReturnType<typeof venueBook> | null = null;
      try {
        venueAfter = venueBook(r.sys);
      } catch {
        venueAfter = null;
      }
      const same =
        venueAfter !== null &&
        venueAfter.orders.size === venueBefore.orders.size &&
        JSON.stringify(venueAfter.positions) === JSON.stringify(venueBefore.positions) &&
        [...venueBefore.orders].every(([c, o]) => venueAfter?.orders.get(c)?.status === o.status);
      ctx.check(
        'nothing was sent to the venue (no adoption, no cancel) while the journal was missing',
        same,
        `venue orders ${venueBefore.orders.size} -> ${venueAfter?.orders.size ?? '?'}`,
      );
      const risk = await r.sys.call('order-manager', 'GET', '/api/risk/state');
      ctx.check(
        'trading was not HALTED on a phantom loss',
        risk.body?.data?.tradingState !== 'HALTED',
        `risk state: ${risk.status} ${risk.body?.data?.tradingState ?? risk.body?.error?.code ?? ''}`,
      );
      expectNoCrashLoop(ctx, r, 'order-manager', file);
      // The runbook: put the journal back, restart the order manager.
      t = await whileStopped(ctx, r, 'order-manager', () => {
        for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
        for (const f of ['orders.sqlite', 'orders.sqlite-wal', 'orders.sqlite-shm']) {
          const b = path.join(backup, f);
          if (existsSync(b)) copyFileSync(b, path.join(path.dirname(file), f));
        }
      });
      await r.watch.expectRecovery(ctx, ['order-manager'], t, 20_000, 'journal restored (runbook)');
      await finish(ctx, r);
    },
  };
}

export const ordersDbEmpty = ordersDbScenario('empty', ['short', 'full']);
export const ordersDbMissing = ordersDbScenario('missing', ['full']);

interface CorruptSpec {
  name: string;
  title: string;
  profiles: ('short' | 'full')[];
  service: ServiceName;
  /** Before the stop: make the file exist (subscriptions.json is written on the first change). */
  prepare?: (r: Running) => Promise<void>;
  /** Which file to damage (called while the service is stopped). */
  file: (r: Running) => string;
  /** What else must hold once it runs on the damaged file. */
  after?: (ctx: ScenarioContext, r: Running, file: string, t: number) => Promise<void>;
  /** How the service is stopped before the damage: a clean stop (default) or a crash (kill -9). */
  stop?: 'SIGTERM' | 'SIGKILL';
  /** The service must report it and stay down until an operator restores it (else: heal by itself). */
  reportsDown?: RegExp;
  skipHealthy?: boolean;
}

function corruptScenario(spec: CorruptSpec): Scenario {
  return {
    name: spec.name,
    title: spec.title,
    findings: [6],
    profiles: spec.profiles,
    budgetMs: () => 180_000,
    async run(ctx) {
      const r = await bringUp(
        ctx,
        { name: spec.name, marketMs: 32_000, tradesPerSecond: 300 },
        { ordersPerSecond: 5 },
      );
      await spec.prepare?.(r);
      await sleep(6_000);
      let file = '';
      let good = Buffer.alloc(0);
      let hash = '';
      const t = await whileStopped(
        ctx,
        r,
        spec.service,
        () => {
          file = spec.file(r);
          good = readFileSync(file);
          hash = sha256(garble(file, { length: Math.min(256, Math.max(8, Math.floor(good.length / 4))) }));
        },
        spec.stop,
      );
      ctx.note('damaged', path.relative(r.sys.home, file));
      ctx.log(
        `garbled ${path.relative(r.sys.home, file)} (${good.length} bytes) while ${spec.service} was stopped`,
      );
      if (spec.reportsDown) {
        await sleep(12_000);
        r.watch.expectTruthful(ctx, {
          service: spec.service,
          during: `a damaged ${path.basename(file)}`,
          from: t + 6_000,
          to: Date.now(),
          graceMs: 0,
          reason: spec.reportsDown,
          mustAnswer: true,
        });
        expectNoCrashLoop(ctx, r, spec.service, file);
        const same = existsSync(file) && sha256(readFileSync(file)) === hash;
        ctx.check(
          `the damaged ${path.basename(file)} is left exactly as found`,
          same,
          same ? 'same bytes' : 'changed or gone',
        );
        await spec.after?.(ctx, r, file, t);
        await restore(ctx, r, spec.service, file, good);
      } else {
        await r.watch.expectRecovery(
          ctx,
          [spec.service],
          t,
          30_000,
          `restart on a damaged ${path.basename(file)}`,
        );
        await spec.after?.(ctx, r, file, t);
      }
      await finish(ctx, r, { skipHealthy: spec.skipHealthy ?? false });
      // A file the runbook restored was checked as found before the restore.
      if (!spec.reportsDown) expectKept(ctx, r, file, hash);
    },
  };
}

/** Reported: /health named it at some point, or an error log line names the file. */
function expectReported(ctx: ScenarioContext, r: Running, file: string, t: number, health: RegExp) {
  const inHealth = r.watch
    .between('data-capture', t, Date.now())
    .some((s) => s.http !== null && health.test(s.failing.join('; ')));
  const base = path.basename(file);
  const logged = r.sys
    .logLines('data-capture')
    .filter((l) => /"level":"(error|fatal)"/.test(l) && l.includes(base));
  ctx.check(
    `the damaged ${base} was reported (/health or an error log line naming it)`,
    inHealth || logged.length > 0,
    `${inHealth ? '/health named it' : '/health never named it'}; ${logged.length} error log line(s) naming it`,
  );
}

export const corruptCheckpoint = corruptScenario({
  name: 'corrupt-checkpoint',
  title:
    'a garbled data-capture checkpoint: state rebuilt from the journal, the damaged file kept, no trade lost',
  profiles: ['short', 'full'],
  service: 'data-capture',
  file: (r) => path.join(journalDir(r.sys), 'checkpoint.json'),
  after: async (ctx, r, file, t) => {
    const events = r.sys.logEvents('data-capture', 'capture.checkpoint_unreadable').length;
    ctx.check(
      'the unreadable checkpoint was logged as an error',
      events > 0,
      `${events} capture.checkpoint_unreadable line(s)`,
    );
    r.watch.record(ctx, 'data-capture', `a damaged ${path.basename(file)}`, t, Date.now());
  },
});

export const corruptOldSegment = corruptScenario({
  name: 'corrupt-old-segment',
  title: 'a garbled old (sealed, converted) journal segment: reported, kept, Parquet still whole',
  profiles: ['full'],
  service: 'data-capture',
  file: (r) => {
    const segs = segments(r.sys.home);
    const seg = segs[Math.floor((segs.length - 1) / 2)];
    if (!seg || segs.length < 3) throw new Error(`only ${segs.length} journal segments`);
    return seg;
  },
  after: async (ctx, r, file, t) => {
    await sleep(8_000);
    expectReported(ctx, r, file, t, /journal|segment|\.seg/i);
  },
  skipHealthy: true,
});

export const corruptNewestSegment = corruptScenario({
  name: 'corrupt-newest-segment',
  title:
    'data-capture killed -9 and its newest (open) journal segment garbled: no seq reused, damage reported and kept',
  profiles: ['full'],
  service: 'data-capture',
  stop: 'SIGKILL',
  file: (r) => {
    const seg = segments(r.sys.home).at(-1);
    if (!seg) throw new Error('no journal segment');
    return seg;
  },
  after: async (ctx, r, file, t) => expectReported(ctx, r, file, t, /journal|segment|\.seg/i),
});

export const corruptParquet = corruptScenario({
  name: 'corrupt-parquet',
  title: 'a garbled Parquet file: queries answer (no 500), /health names it, it is kept aside and rebuilt',
  profiles: ['full'],
  service: 'data-capture',
  file: (r) => {
    const f = tradeParquetFiles(r.sys.home)[0];
    if (!f) throw new Error('no Parquet trade file yet');
    return f;
  },
  after: async (ctx, r, file, t) => {
    const ticker = /ticker=([^/]+)/.exec(file)?.[1] ?? 'WINZ26';
    const answers = await Promise.all([
      r.sys.call('data-capture', 'GET', `/api/bars?ticker=${ticker}&interval=1m`),
      r.sys.call('data-capture', 'GET', `/api/trades?ticker=${ticker}&limit=10000`),
    ]);
    ctx.check(
      'bars and trades over the damaged file answer without a 5xx',
      answers.every((a) => a.status === 200 || (a.status === 503 && a.body?.error?.code)),
      answers.map((a, i) => `${i ? 'trades' : 'bars'} ${a.status} ${a.body?.error?.code ?? ''}`).join(', '),
    );
    await pollUntil(
      () => r.watch.between('data-capture', t, Date.now()).some((s) => /parquet/i.test(s.failing.join(' '))),
      10_000,
      500,
    );
    expectReported(ctx, r, file, t, /parquet/i);
  },
  skipHealthy: true,
});

export const corruptSubscriptions = corruptScenario({
  name: 'corrupt-subscriptions',
  title:
    'a garbled data-capture/subscriptions.json: /health down naming it (no crash loop), left as found; restored by the runbook',
  profiles: ['full'],
  service: 'data-capture',
  prepare: async (r) => {
    // The list is written on its first change: drop and re-add one ticker.
    await r.sys.call('data-capture', 'DELETE', '/api/subscriptions/VALE3');
    await r.sys.call('data-capture', 'POST', '/api/subscriptions', { ticker: 'VALE3' });
  },
  file: (r) => path.join(r.sys.home, 'data-capture', 'subscriptions.json'),
  reportsDown: /subscriptions/i,
});

export const corruptKeys = corruptScenario({
  name: 'corrupt-keys',
  title:
    'a garbled gateway/keys.json: /health down naming it (no crash loop), API 503 (not 401/500); restored by the runbook',
  profiles: ['full'],
  service: 'gateway',
  file: (r) => path.join(r.sys.home, 'gateway', 'keys.json'),
  reportsDown: /keys/i,
  after: async (ctx, r) => {
    const a = await r.sys.call('gateway', 'GET', '/api/v1/orders', undefined, {
      'x-api-key': r.sys.adminKey(),
    });
    ctx.check(
      'an API call with a good key answers 503 while the keys are unreadable',
      a.status === 503,
      `answered ${a.status} ${a.body?.error?.code ?? ''}`,
    );
  },
});
