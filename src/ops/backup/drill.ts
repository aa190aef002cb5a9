import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Config, SERVICE_NAMES } from '../../kernel/config.js';
import { internalHeaders } from '../../kernel/internal-auth.js';
import { freePort } from '../../kernel/ports.js';
import { localDayOf } from '../../kernel/time.js';
import { stopSupervisor } from '../supervisor/background.js';
import { listBackups } from './manifest.js';
import { type RestoreStep, restoreBackup } from './restore.js';
import { takeBackup } from './take.js';

/** What a system holds, counted through its own APIs. */
export interface Counts {
  ideas: number;
  orders: number;
  fills: number;
}

/** How long the restored capture gets to backfill what the backup's journal had not written yet. */
const TRADES_CATCH_UP_MS = 60_000;

/** Trades per instrument of the backup's day up to its start, from daily bars. */
export type TradeCounts = Record<string, number>;

export interface DrillReport {
  backup: string;
  scratchHome: string;
  /** Before the backup (live) and after the restore (the second system). */
  live: Counts;
  restored: Counts;
  /** Trades per instrument of the backup's day up to its start: as the live system served them, and the restored one. */
  liveTrades: TradeCounts;
  restoredTrades: TradeCounts;
  /** Every count of the restored system at least the live one's at the backup, trades equal. */
  ok: boolean;
  /** From the restore's start to every service of the second system healthy. */
  rtoMs: number;
  /** How old the restored data was when the restore began: what a disaster at that moment loses. */
  rpoMs: number;
  backupMs: number;
  steps: RestoreStep[];
}

/**
 * `dr-drill`: a backup of the live system, restored into a scratch data home, started there as a
 * second supervised system on free ports, its ideas, orders and fills counted against the live
 * system's at the backup; then stopped and removed (kept with `keep`). The live system is not
 * stopped or touched, beyond the backup.
 */
export async function drDrill(
  config: Config,
  opts: { keep?: boolean; log?: (line: string) => void } = {},
): Promise<DrillReport> {
  const log = opts.log ?? (() => {});
  const live = await countsOf(config);
  log(`live: ${JSON.stringify(live)}`);
  const backup = await takeBackup(config);
  const started = Date.parse(backup.manifest.startedAt);
  log(`backup ${backup.name}: ${backup.manifest.files.length} files in ${backup.ms} ms`);
  // {scratch}/home is the second system's data home; its config sits beside it, where the
  // restore (which moves a data home's contents aside) does not reach.
  const scratchRoot = mkdtempSync(path.join(os.tmpdir(), 'tradingsystem-drill-'));
  const scratch = path.join(scratchRoot, 'home');
  const scratchConfig = await withFreePorts({ ...structuredClone(config), home: scratch });
  const configFile = path.join(scratchRoot, 'drill.config.json');
  writeFileSync(configFile, JSON.stringify(scratchConfig, null, 2));
  const env = { ...process.env, TRADINGSYSTEM_HOME: scratch, TRADINGSYSTEM_CONFIG: configFile };
  const restoreStarted = Date.now();
  try {
    // The backup is listed in the live home; restored into the scratch one.
    const entry = listBackups(config.home).find((b) => b.name === backup.name);
    if (!entry) throw new Error(`backup ${backup.name} vanished`);
    const restored = await restoreBackup(config, backup.name, {
      intoHome: scratch,
      start: true,
      env,
      onStep: (s) => log(`${s.step}: ${s.detail} (${s.ms} ms)`),
    });
    const rtoMs = Date.now() - restoreStarted;
    const counts = await countsOf(scratchConfig);
    log(`restored: ${JSON.stringify(counts)}`);
    // Trades of the backup's day up to its start: the restored capture holds what the backup held
    // (the journal, today's Parquet) and backfills from the broker what the journal had not written
    // yet, so they agree once it has caught up. Older days are whole files, checked by their hashes.
    const from = localDayOf(config.timezone, started).startTs;
    const liveTrades = await tradeCounts(config, from, started);
    let restoredTrades = await tradeCounts(scratchConfig, from, started);
    const catchUpBy = Date.now() + TRADES_CATCH_UP_MS;
    while (!sameCounts(liveTrades, restoredTrades) && Date.now() < catchUpBy) {
      await new Promise((r) => setTimeout(r, 1_000));
      restoredTrades = await tradeCounts(scratchConfig, from, started);
    }
    log(
      `trades up to the backup: live ${JSON.stringify(liveTrades)}, restored ${JSON.stringify(restoredTrades)}`,
    );
    return {
      backup: backup.name,
      scratchHome: scratchRoot,
      live,
      restored: counts,
      liveTrades,
      restoredTrades,
      ok:
        counts.ideas >= live.ideas &&
        counts.orders >= live.orders &&
        counts.fills >= live.fills &&
        sameCounts(liveTrades, restoredTrades),
      rtoMs,
      rpoMs: restoreStarted - started,
      backupMs: backup.ms,
      steps: restored.steps,
    };
  } finally {
    await stopSupervisor(scratch, 60_000);
    if (!opts.keep) rmSync(scratchRoot, { recursive: true, force: true });
  }
}

/** Ideas, orders and fills through the services' APIs (0 for a service that is off). */
async function countsOf(config: Config): Promise<Counts> {
  const at = (name: 'idea-bank' | 'order-manager', route: string) =>
    `http://${config.services[name].host}:${config.services[name].port}${route}`;
  const get = async (url: string) => {
    const res = await fetch(url, {
      headers: internalHeaders(config.home),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const ideas = config.services['idea-bank'].enabled ? await get(at('idea-bank', '/api/items?limit=1')) : {};
  let orders = 0;
  let fills = 0;
  if (config.services['order-manager'].enabled) {
    for (let offset = 0; ; offset += 1_000) {
      const page = await get(at('order-manager', `/api/orders?limit=1000&offset=${offset}`));
      const data = (page.data ?? []) as { fills?: unknown[] }[];
      orders += data.length;
      for (const o of data) fills += o.fills?.length ?? 0;
      if (data.length < 1_000) break;
    }
  }
  return { ideas: Number(ideas.total ?? ideas.count ?? 0), orders, fills };
}

/** Trades per subscribed instrument from `from` to `to`, summed from data-capture's daily bars. */
async function tradeCounts(config: Config, from: number, to: number): Promise<TradeCounts> {
  const svc = config.services['data-capture'];
  if (!svc.enabled) return {};
  const base = `http://${svc.host}:${svc.port}`;
  const get = async (route: string) => {
    const res = await fetch(`${base}${route}`, {
      headers: internalHeaders(config.home),
      signal: AbortSignal.timeout(30_000),
    });
    if (!res.ok) throw new Error(`${base}${route} answered ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const status = await get('/api/status');
  const counts: TradeCounts = {};
  for (const ticker of Object.keys((status.cursors ?? {}) as object).sort()) {
    const range = `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const bars = await get(`/api/bars?ticker=${ticker}&interval=1d&${range}&limit=1000`);
    counts[ticker] = ((bars.data ?? []) as { trades: number }[]).reduce((n, b) => n + b.trades, 0);
  }
  return counts;
}

function sameCounts(a: TradeCounts, b: TradeCounts): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

/** The same config on ports nobody listens on, so the second system runs beside the live one. */
async function withFreePorts(config: Config): Promise<Config> {
  for (const name of SERVICE_NAMES) config.services[name].port = await freePort();
  for (const extra of config.supervisor.extra) extra.port = await freePort();
  // The drill's system keeps to itself: no schedule of its own, no metrics listener for Prometheus.
  config.backup.scheduled = false;
  config.supervisor.metricsPort = 0;
  return config;
}
