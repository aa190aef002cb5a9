import path from 'node:path';
import {
  expectAllHealthyCli,
  expectCaughtUp,
  expectIdeasIntact,
  expectOrdersIntact,
  expectParquetExact,
  type PerTicker,
  type Session,
} from './checks.js';
import { Mounts } from './disk.js';
import { IdeaLoad, OrderLoad } from './load.js';
import type { ScenarioContext } from './scenario.js';
import { ChaosSystem, type ServiceName, type SystemSpec } from './system.js';
import { secs } from './util.js';
import { Watch } from './watch.js';

export interface Running {
  sys: ChaosSystem;
  watch: Watch;
  mounts: Mounts;
  orders: OrderLoad | null;
  ideas: IdeaLoad | null;
  /** Stops the system once (later calls answer the first result). */
  stop(): Promise<{ code: number; stragglers: number[] }>;
}

export interface BringUpOptions {
  /** Orders per second posted to the order manager until 1.5 s before the close. */
  ordersPerSecond?: number;
  /** Ideas per second posted to the idea bank. */
  ideasPerSecond?: number;
  /** Runs before `start` (mount a file system over the data home, ...). */
  beforeStart?: (sys: ChaosSystem, mounts: Mounts) => void | Promise<void>;
}

/**
 * Starts the whole supervised system for a scenario and registers its teardown (stop, kill
 * stragglers by pid, unmount) so it runs whatever happens. Starting is itself checked.
 */
export async function bringUp(
  ctx: ScenarioContext,
  spec: SystemSpec,
  opts: BringUpOptions = {},
): Promise<Running> {
  const sys = await ChaosSystem.create(spec);
  const mounts = new Mounts();
  ctx.defer('unmount', () => mounts.cleanup());
  let stopped: Promise<{ code: number; stragglers: number[] }> | null = null;
  const stop = () => {
    stopped ??= sys.stop();
    return stopped;
  };
  ctx.defer('stop the system', async () => {
    const r = await stop();
    if (r.stragglers.length) ctx.log(`killed stragglers by pid: ${r.stragglers.join(', ')}`);
  });
  ctx.note('home', sys.home);
  ctx.note('market', {
    tradesPerSecondPerInstrument: spec.tradesPerSecond ?? 200,
    openAt: new Date(sys.openAt).toISOString(),
    closeAt: new Date(sys.closeAt).toISOString(),
    timezone: sys.timezone,
  });
  await opts.beforeStart?.(sys, mounts);
  const started = await sys.start();
  ctx.log(
    `started in ${secs(started.ms)} (exit ${started.code}); market closes in ${secs(sys.closeAt - Date.now())}`,
  );
  if (started.code !== 0) {
    const status = await sys.cli(['status']);
    throw new Error(
      `tradingsystem start --detach exited ${started.code}: ${started.stdout}${started.stderr}\n${status.stdout}`,
    );
  }
  const watch = new Watch(sys).start();
  ctx.defer('stop watching', () => watch.stop());

  let orders: OrderLoad | null = null;
  if (opts.ordersPerSecond) {
    if (!(await sys.orderManagerReady(30_000))) throw new Error('the order manager never became ready');
    await sys.wideRiskLimits();
    orders = new OrderLoad(sys, {
      perSecond: opts.ordersPerSecond,
      prefix: `chaos-${ctx.scenario.name}`,
      until: sys.closeAt - 1_500,
    }).start();
    ctx.defer('stop the order load', () => orders?.stop());
  }
  let ideas: IdeaLoad | null = null;
  if (opts.ideasPerSecond) {
    ideas = new IdeaLoad(sys, {
      perSecond: opts.ideasPerSecond,
      prefix: `chaos-idea-${ctx.scenario.name}`,
      until: sys.closeAt,
    }).start();
    ctx.defer('stop the idea load', () => ideas?.stop());
  }
  return { sys, watch, mounts, orders, ideas, stop };
}

export interface FinishOptions {
  /** How long after the close data-capture may take to catch up (default 20 s). */
  catchUpMs?: number;
  /** Sessions to check in Parquet (default: the one session ending at the close). */
  sessions?: (truth: PerTicker) => Session[];
  partitionZone?: string;
  /** Skip the final everything-healthy check (a scenario that leaves a service down on purpose). */
  skipHealthy?: boolean;
  /** Order loads to check (default: the one bringUp started). */
  orderLoads?: OrderLoad[];
}

/**
 * The invariants every scenario ends with: capture caught up after the close, orders and ideas
 * intact, everything healthy, a clean stop, and Parquet = the simulator's truth.
 */
export async function finish(ctx: ScenarioContext, r: Running, opts: FinishOptions = {}): Promise<void> {
  const loads = opts.orderLoads ?? (r.orders ? [r.orders] : []);
  for (const l of loads) await l.stop();
  await r.ideas?.stop();
  if (loads.length)
    ctx.note(
      'orders',
      loads.map((l) => l.stats()),
    );
  if (r.ideas) ctx.note('ideas', { created: r.ideas.created.size, unanswered: r.ideas.unanswered.length });
  const truth = await expectCaughtUp(ctx, r.sys, opts.catchUpMs ?? 20_000);
  if (loads.length) await expectOrdersIntact(ctx, r.sys, loads);
  if (r.ideas) await expectIdeasIntact(ctx, r.sys, r.ideas);
  if (!opts.skipHealthy) await expectAllHealthyCli(ctx, r.sys, 'at the end');
  await r.watch.stop();
  const stopped = await r.stop();
  ctx.check(
    'tradingsystem stop: exit 0, no process left behind',
    stopped.code === 0 && stopped.stragglers.length === 0,
    `exit ${stopped.code}${stopped.stragglers.length ? `; killed stragglers ${stopped.stragglers.join(', ')}` : ''}`,
  );
  const sessions = opts.sessions?.(truth) ?? [
    { label: 'session', from: r.sys.openAt, to: r.sys.closeAt, expected: truth },
  ];
  await expectParquetExact(
    ctx,
    r.sys,
    sessions,
    opts.partitionZone ? { partitionZone: opts.partitionZone } : {},
  );
}

/** Kills a service with SIGKILL and returns the time of the kill (null when it had no pid). */
export async function kill9(
  sys: ChaosSystem,
  service: ServiceName,
): Promise<{ pid: number; at: number } | null> {
  const pid = await sys.pid(service);
  if (!pid) return null;
  process.kill(pid, 'SIGKILL');
  return { pid, at: Date.now() };
}

export const journalDir = (sys: ChaosSystem) => path.join(sys.home, 'journal', 'marketdata');
