import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

import { internalHeaders } from '../../src/kernel/internal-auth.js';
import { control } from '../../src/ops/supervisor/control.js';
import type { ProcessStatus } from '../../src/ops/supervisor/supervisor.js';

export { internalHeaders } from '../../src/kernel/internal-auth.js';
export { freePort, freePorts } from '../../src/kernel/ports.js';
// A zombie (exited, not yet reaped by an init that takes its time) is dead here too.
export { isAlive } from '../../src/ops/supervisor/control.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const TEST_SERVICE = path.join(ROOT, 'test', 'fixtures', 'test-service.mjs');

export function tempHome(prefix = 'ts-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Writes a config file in `home` and returns the environment that points the CLI at it. The
 * supervisor's metrics listener is off unless the config sets it: its default port is fixed, and a
 * test must never take it from a running system.
 */
export function configEnv(home: string, config: object): NodeJS.ProcessEnv {
  const file = path.join(home, 'tradingsystem.config.json');
  const supervisor = { metricsPort: 0, ...(config as { supervisor?: object }).supervisor };
  writeFileSync(file, JSON.stringify({ ...config, supervisor }, null, 2));
  return { ...process.env, TRADINGSYSTEM_HOME: home, TRADINGSYSTEM_CONFIG: file };
}

/**
 * `fetch` presenting the internal credential of the system running in `home`, for a test that calls
 * a service directly. The token file is read at each call: every supervisor start issues a new one.
 */
export function internalFetch(home: string): typeof fetch {
  return (input, init = {}) =>
    fetch(input, {
      ...init,
      headers: { ...internalHeaders(home), ...(init.headers as Record<string, string> | undefined) },
    });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number>;
}

/** Starts `tradingsystem <args>` in the background and keeps what it prints. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { child, output: () => out, exited };
}

export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** The running supervisor's `GET /status`, asked in process: no CLI to spawn on every poll. */
export const supervisorStatus = (home: string) =>
  control<{ processes: ProcessStatus[] }>(home, 'GET', '/status');

/** How `promise` settled, or undefined when it has not within `ms`. */
export async function settledWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<PromiseSettledResult<T> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
  });
  try {
    return await Promise.race([Promise.allSettled([promise]).then(([outcome]) => outcome), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s value, or a failure naming `what` when it takes longer than `ms`. */
export async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  const outcome = await settledWithin(promise, ms);
  if (!outcome) throw new Error(`${what}: not done within ${seconds(ms)}`);
  if (outcome.status === 'rejected') throw outcome.reason;
  return outcome.value;
}

/**
 * Waits until `until(measure())` holds for as long as the measured value keeps changing: a busy
 * machine is slow but moves, a stuck system does not. Fails naming `what` and the last value once
 * nothing changed for `stallMs` (a measure that does not answer in that time has not changed either).
 * A measure that throws counts as its message: "not running" to "running" is progress too.
 */
export async function waitForProgress<T>(
  what: string,
  measure: () => Promise<T>,
  until: (value: T) => boolean,
  { stallMs, everyMs = 100 }: { stallMs: number; everyMs?: number },
): Promise<T> {
  const stalled = (seen: string) =>
    new Error(`${what}: stalled, nothing changed for ${seconds(stallMs)}; last seen ${seen}`);
  let last: string | undefined;
  let changedAt = Date.now();
  for (;;) {
    const outcome = await settledWithin(measure(), changedAt + stallMs - Date.now());
    if (!outcome) throw stalled(`${last}, then no answer`);
    if (outcome.status === 'fulfilled' && until(outcome.value)) return outcome.value;
    const seen =
      outcome.status === 'fulfilled'
        ? JSON.stringify(outcome.value)
        : `error: ${(outcome.reason as Error).message}`;
    if (seen !== last) {
      last = seen;
      changedAt = Date.now();
    } else if (Date.now() - changedAt >= stallMs) {
      throw stalled(seen);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * A parsed JSON answer as tests read it: assertions walk into it freely and vitest checks the
 * values, so a precise type per endpoint would add casts and catch nothing more.
 */
// biome-ignore lint/suspicious/noExplicitAny: assertions on parsed JSON answers
export type JsonBody = any;

/**
 * The supervisors a test file starts: the one still running after a test is stopped with
 * `tradingsystem stop`, so no test leaves processes behind for the next.
 */
export class Supervisors {
  private current: { run: Running; env: NodeJS.ProcessEnv } | null = null;

  constructor() {
    afterEach(async () => {
      if (this.current) await this.stop();
    });
  }

  start(env: NodeJS.ProcessEnv): Running {
    const run = spawnCli(['start'], env);
    this.current = { run, env };
    return run;
  }

  /** Stops the running one, if any (a `finally` that must not leave processes on a test's disk). */
  async stopIfRunning(): Promise<void> {
    if (this.current) await this.stop();
  }

  /** `tradingsystem stop`, then waits for the supervisor to exit. */
  async stop(): Promise<CliResult> {
    const current = this.current;
    if (!current) throw new Error('no supervisor started');
    this.current = null;
    const result = await runCli(['stop'], current.env);
    await current.run.exited;
    return result;
  }
}
