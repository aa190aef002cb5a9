import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

import { internalHeaders } from '../../src/kernel/internal-auth.js';

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
