import { realpathSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../kernel/config.js';
import { commandLineOf } from '../../kernel/platform.js';
import { control, NotAnsweringError, NotRunningError } from '../supervisor/control.js';
import type { ProcessStatus } from '../supervisor/supervisor.js';
import { DeployError } from './release.js';

const POLL_MS = 250;

export type Log = (line: string) => void;

/** What the running supervisor runs, or null when none runs. A silent one stops a deploy. */
export async function supervisorStatus(config: Config): Promise<ProcessStatus[] | null> {
  try {
    const st = await control<{ processes: ProcessStatus[] }>(config.home, 'GET', '/status');
    return st.processes;
  } catch (err) {
    if (err instanceof NotRunningError) return null;
    if (err instanceof NotAnsweringError) {
      throw new DeployError(
        `${err.message}; a deploy needs it to restart the services (see 'tradingsystem status')`,
      );
    }
    throw err;
  }
}

export interface RolloutResult {
  ok: boolean;
  /** The services restarted, in order (the failing one included). */
  restarted: string[];
  failure?: string;
}

const up = (p: ProcessStatus | undefined, allowDegraded: boolean) =>
  p?.state === 'healthy' || (allowDegraded && p?.state === 'degraded');

/**
 * Restarts `services` one at a time through the running supervisor, each on the release `current`
 * now points at (`releaseDir`; null: the supervisor's own install), and waits for each to answer
 * healthy within `deploy.healthTimeoutMs` before the next. Then all of them must stay up with the
 * same pid for `deploy.settleMs`. Stops at the first failure. A service degraded before its
 * restart may come back degraded (its cause, a broker session say, is not the release's).
 */
export async function rollOut(
  config: Config,
  releaseDir: string | null,
  services: string[],
  before: ProcessStatus[],
  log: Log,
): Promise<RolloutResult> {
  const label = releaseDir ? path.basename(releaseDir) : "the supervisor's own install";
  // The supervisor starts services from the real path of the release (see `currentReleaseDir`).
  const entry = releaseDir ? path.join(realpathOr(releaseDir), 'dist', 'cli.js') : null;
  const restarted: string[] = [];
  const pids = new Map<string, number>();
  for (const name of services) {
    const prev = before.find((p) => p.name === name);
    const allowDegraded = prev?.state === 'degraded';
    restarted.push(name);
    log(`restarting ${name} on ${label}`);
    const started = Date.now();
    const outcome = await restartOne(config, name, prev?.pid ?? null, entry, allowDegraded);
    if ('failure' in outcome) return { ok: false, restarted, failure: outcome.failure };
    pids.set(name, outcome.pid);
    log(`${name} ${outcome.state} on ${label} (pid ${outcome.pid}, ${Date.now() - started} ms)`);
  }
  const settleMs = config.deploy.settleMs;
  if (settleMs > 0 && services.length) {
    log(`watching ${services.join(', ')} for ${settleMs} ms`);
    const deadline = Date.now() + settleMs;
    while (Date.now() < deadline) {
      await sleep(Math.min(POLL_MS * 2, Math.max(0, deadline - Date.now())));
      const now = await statusOrNull(config);
      if (!now) return { ok: false, restarted, failure: 'the supervisor stopped answering while settling' };
      for (const name of services) {
        const p = now.find((x) => x.name === name);
        const allowDegraded = before.find((x) => x.name === name)?.state === 'degraded';
        if (!p || p.pid !== pids.get(name) || !up(p, allowDegraded)) {
          return {
            ok: false,
            restarted,
            failure: `${name} did not stay up on ${label}: ${describe(p)}`,
          };
        }
      }
    }
  }
  return { ok: true, restarted };
}

async function restartOne(
  config: Config,
  name: string,
  oldPid: number | null,
  entry: string | null,
  allowDegraded: boolean,
): Promise<{ pid: number; state: string } | { failure: string }> {
  const timeoutMs = config.deploy.healthTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  try {
    // Answers once the supervisor's own health gate is done (healthy, failed or timed out).
    await control(config.home, 'POST', '/restart', { service: name }, timeoutMs + 5_000);
  } catch (err) {
    if (err instanceof NotRunningError) return { failure: `the supervisor stopped while restarting ${name}` };
    if (!(err instanceof NotAnsweringError))
      return { failure: `restarting ${name}: ${(err as Error).message}` };
    // Still gating when our wait ran out: the status below decides.
  }
  let last: ProcessStatus | undefined;
  for (;;) {
    const now = await statusOrNull(config);
    last = now?.find((p) => p.name === name) ?? last;
    if (last?.pid && last.pid !== oldPid && up(last, allowDegraded)) {
      const cmd = entry ? commandLineOf(last.pid) : null;
      if (entry && cmd && !cmd.includes(entry)) {
        return {
          failure: `${name} (pid ${last.pid}) does not run ${entry} but '${cmd.join(' ')}': does the supervisor use another deploy.dir?`,
        };
      }
      return { pid: last.pid, state: last.state };
    }
    // A crash loop the supervisor gave up on: no use waiting for the rest of the timeout.
    if (last?.state === 'failed' && !last.pid) break;
    if (Date.now() >= deadline) break;
    await sleep(POLL_MS);
  }
  const why = last?.state === 'failed' ? 'crash-looped' : `not healthy within ${timeoutMs} ms`;
  return { failure: `${name} ${why}: ${describe(last)}` };
}

function describe(p: ProcessStatus | undefined): string {
  if (!p) return 'not supervised any more';
  return `${p.state}${p.detail ? ` (${p.detail})` : ''}${p.pid ? `, pid ${p.pid}` : ''}`;
}

async function statusOrNull(config: Config): Promise<ProcessStatus[] | null> {
  try {
    const st = await control<{ processes: ProcessStatus[] }>(config.home, 'GET', '/status');
    return st.processes;
  } catch {
    return null;
  }
}

function realpathOr(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
