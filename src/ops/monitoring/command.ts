import { rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../../kernel/config.js';
import { UsageError, withUsage } from '../maintenance/args.js';
import {
  baseUrl,
  type Component,
  components,
  findProgram,
  health,
  INSTALL_HINT,
  runningPid,
  StartError,
  type Started,
  startComponent,
  stopPid,
} from './stack.js';

const USAGE = 'monitoring up | down | status [--json]';
/** Prometheus replays its write-ahead log at start: a long history takes a while. */
const START_TIMEOUT_MS = 60_000;

/**
 * `tradingsystem monitoring up|down|status`: Prometheus and Alertmanager from the installed
 * programs, with the files in deploy/ and their data under {home}/monitoring/.
 */
export async function monitoringCommand(args: string[], config: Config): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: 'boolean' } },
    });
    const [action, extra] = positionals;
    if (!action) throw new UsageError('missing action: up, down or status');
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
    if (values.json && action !== 'status') throw new UsageError('--json goes with status only');
    if (action === 'up') return up(config);
    if (action === 'down') return down(config);
    if (action === 'status') return status(config, values.json === true);
    throw new UsageError(`unknown action '${action}': use up, down or status`);
  });
}

async function up(config: Config): Promise<number> {
  const all = components(config);
  // Both programs or neither: a missing one is reported before anything starts.
  const programs = all.map((c) => ({ c, program: findProgram(c.programs) }));
  const missing = programs.filter((p) => !p.program);
  if (missing.length) {
    const names = missing.map((p) => p.c.programs.join(' or ')).join(', and ');
    process.stderr.write(`not installed (not on PATH): ${names}\n${INSTALL_HINT}\n`);
    return 1;
  }
  const started: Started[] = [];
  for (const { c, program } of programs) {
    try {
      started.push(await startComponent(c, program as string, config, START_TIMEOUT_MS));
    } catch (err) {
      if (!(err instanceof StartError)) throw err;
      process.stderr.write(`${err.message}\n`);
      // Leave nothing half up: stop what this command started.
      for (const s of started.filter((s) => !s.already)) {
        await stopPid(s.pid, config.monitoring.stopTimeoutMs);
        rmSync(s.component.pidFile, { force: true });
      }
      return 1;
    }
  }
  for (const s of started) {
    const c = s.component;
    const what = s.already ? 'already running' : 'started';
    console.log(
      `${c.name.padEnd(12)} ${what} (pid ${s.pid}) at ${baseUrl(c)}; data in ${path.join(c.dir, 'data')}`,
    );
  }
  const prometheus = all.find((c) => c.name === 'prometheus') as Component;
  console.log(
    `Prometheus scrapes the targets generated from the config in ${path.join(prometheus.dir, 'targets')}; ` +
      `retention ${config.monitoring.retention}. 'tradingsystem monitoring down' stops both.`,
  );
  return 0;
}

async function down(config: Config): Promise<number> {
  let failed = false;
  for (const c of components(config).reverse()) {
    const pid = runningPid(c);
    if (pid === null) {
      console.log(`${c.name.padEnd(12)} not running`);
    } else if (await stopPid(pid, config.monitoring.stopTimeoutMs)) {
      console.log(`${c.name.padEnd(12)} stopped (pid ${pid})`);
    } else {
      console.error(`${c.name.padEnd(12)} pid ${pid} did not stop, even after SIGKILL`);
      failed = true;
      continue;
    }
    rmSync(c.pidFile, { force: true });
  }
  return failed ? 1 : 0;
}

interface ComponentStatus {
  name: string;
  pid: number | null;
  address: string;
  healthy: boolean;
  detail: string;
  /** Prometheus: its scrape targets by health. */
  targets?: { up: number; total: number };
}

async function status(config: Config, json: boolean): Promise<number> {
  const rows: ComponentStatus[] = [];
  for (const c of components(config)) {
    const pid = runningPid(c);
    const h = await health(c);
    const row: ComponentStatus = {
      name: c.name,
      pid,
      address: `${c.host}:${c.port}`,
      healthy: pid !== null && h.healthy,
      detail:
        pid === null ? (h.healthy ? 'answering, but not started by monitoring up' : 'not running') : h.detail,
    };
    if (c.name === 'prometheus' && row.healthy) row.targets = await targetCounts(c);
    rows.push(row);
  }
  if (json) console.log(JSON.stringify({ components: rows }, null, 2));
  else {
    console.log(`${'NAME'.padEnd(13)}${'PID'.padEnd(9)}${'ADDRESS'.padEnd(22)}HEALTH`);
    for (const r of rows) {
      const targets = r.targets ? `; targets ${r.targets.up}/${r.targets.total} up` : '';
      console.log(
        `${r.name.padEnd(13)}${String(r.pid ?? '-').padEnd(9)}${r.address.padEnd(22)}${r.detail}${targets}`,
      );
    }
  }
  if (rows.every((r) => r.healthy)) return 0;
  return rows.every((r) => r.pid === null) ? 3 : 1;
}

async function targetCounts(c: Component): Promise<{ up: number; total: number } | undefined> {
  try {
    const res = await fetch(`${baseUrl(c)}/api/v1/targets?state=active`, {
      signal: AbortSignal.timeout(2_000),
    });
    const body = (await res.json()) as { data: { activeTargets: { health: string }[] } };
    const active = body.data.activeTargets;
    return { up: active.filter((t) => t.health === 'up').length, total: active.length };
  } catch {
    return undefined;
  }
}
