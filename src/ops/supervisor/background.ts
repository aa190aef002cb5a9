import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { OWN_GROUP, terminate } from '../../kernel/platform.js';
import {
  control,
  isAlive,
  NotAnsweringError,
  NotRunningError,
  readState,
  type SupervisorState,
} from './control.js';
import { CLI_ENTRY } from './specs.js';
import type { ProcessStatus } from './supervisor.js';

export const isUp = (p: ProcessStatus) => p.state === 'healthy' || p.state === 'degraded';

/** What a background start left running. */
export interface Started {
  state: SupervisorState;
  /** Every process healthy or degraded. */
  allUp: boolean;
}

export class AlreadyRunningError extends Error {
  constructor(readonly state: SupervisorState) {
    super(`tradingsystem is already running (supervisor pid ${state.pid}, started ${state.startedAt})`);
  }
}

/**
 * Starts a supervisor in the background (`start --in-background`, its output appended to
 * `logs/supervisor/console.out`) and resolves once its start sequence has finished.
 * `env` points it at its data home and config (a drill runs a second one beside the live one).
 */
export async function startInBackground(
  home: string,
  only: string[] = [],
  env: NodeJS.ProcessEnv = { ...process.env, TRADINGSYSTEM_HOME: home },
): Promise<Started> {
  const existing = readState(home);
  if (existing && isAlive(existing.pid)) throw new AlreadyRunningError(existing);
  const logDir = path.join(home, 'logs', 'supervisor');
  mkdirSync(logDir, { recursive: true });
  const output = openSync(path.join(logDir, 'console.out'), 'a');
  const child = spawn(process.execPath, [CLI_ENTRY, 'start', ...only, '--in-background'], {
    ...OWN_GROUP,
    stdio: ['ignore', output, output],
    env,
  });
  child.unref();
  let exited: number | null = null;
  child.on('exit', (code) => {
    exited = code ?? 1;
  });
  while (exited === null) {
    const state = readState(home);
    if (state && state.pid === child.pid && state.ready) return { state, allUp: state.processes.every(isUp) };
    await sleep(200);
  }
  throw new Error(`the supervisor exited with code ${exited}; see ${path.join(logDir, 'console.out')}`);
}

/**
 * Stops the supervisor of a data home and everything it runs; resolves once its process is gone
 * (false if it did not stop within `timeoutMs`). Nothing running: true at once.
 */
export async function stopSupervisor(home: string, timeoutMs: number): Promise<boolean> {
  const state = readState(home);
  try {
    await control(home, 'POST', '/stop');
  } catch (err) {
    if (!(err instanceof NotRunningError || err instanceof NotAnsweringError)) throw err;
    if (!state || !isAlive(state.pid)) return true;
    // Alive but its control endpoint is not answering (stopped, perhaps): ended another way.
    terminate(state.pid);
  }
  const deadline = Date.now() + timeoutMs;
  while (state && isAlive(state.pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
