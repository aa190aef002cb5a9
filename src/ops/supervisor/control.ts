import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type AppError, fail } from '../../kernel/errors.js';
import type { ProcessStatus } from './supervisor.js';

/**
 * How other shells reach a running supervisor: a state file in the data home naming its pid and a
 * control port on 127.0.0.1, with a token only readers of that file (mode 0600) know.
 */
export interface SupervisorState {
  pid: number;
  controlPort: number;
  token: string;
  startedAt: string;
  /** True once the initial start sequence has finished. */
  ready: boolean;
  processes: ProcessStatus[];
}

export const stateFilePath = (home: string) => path.join(home, 'run', 'supervisor.json');

/** The state file, or null when there is none or it cannot be read (an unreadable one is stale). */
export function readState(home: string): SupervisorState | null {
  try {
    return JSON.parse(readFileSync(stateFilePath(home), 'utf8')) as SupervisorState;
  } catch {
    return null;
  }
}

/** Creates the state file only if none exists; false means another supervisor holds it. */
export function claimState(home: string, state: SupervisorState): boolean {
  mkdirSync(path.dirname(stateFilePath(home)), { recursive: true });
  try {
    writeFileSync(stateFilePath(home), JSON.stringify(state), { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Replaces the state file through a temp file; on failure (a full disk) the temp file goes too. */
export function writeState(home: string, state: SupervisorState): void {
  const file = stateFilePath(home);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Removes the state file and any temp file a dead supervisor left beside it. */
export function removeState(home: string): void {
  const file = stateFilePath(home);
  rmSync(file, { force: true });
  let names: string[] = [];
  try {
    names = readdirSync(path.dirname(file));
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(`${path.basename(file)}.`) && name.endsWith('.tmp')) {
      rmSync(path.join(path.dirname(file), name), { force: true });
    }
  }
}

export const newToken = () => randomBytes(24).toString('hex');

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * A killed process whose parent has not reaped it yet (a detached supervisor's parent is init,
 * and not every init reaps at once) still answers signal 0, but it is dead. Linux only: elsewhere
 * there is no /proc and no such state to ask about.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state …: comm may hold spaces and parentheses, so the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

export interface ControlHandlers {
  status(): object;
  stop(): void;
  restart(service?: string): Promise<object>;
}

const TOKEN_HEADER = 'x-supervisor-token';

/** The control endpoint: GET /status, POST /stop, POST /restart {service?}. */
export async function startControlServer(token: string, handlers: ControlHandlers): Promise<http.Server> {
  const expected = Buffer.from(token);
  const server = http.createServer(async (req, res) => {
    const send = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const refuse = (err: AppError) => send(err.status, err.toEnvelope());
    const given = Buffer.from(String(req.headers[TOKEN_HEADER] ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return refuse(fail.UNAUTHORIZED('bad or missing supervisor token'));
    }
    try {
      if (req.method === 'GET' && req.url === '/status') return send(200, handlers.status());
      if (req.method === 'POST' && req.url === '/stop') {
        send(202, { stopping: true });
        return handlers.stop();
      }
      if (req.method === 'POST' && req.url === '/restart') {
        const body = JSON.parse((await readBody(req)) || '{}') as { service?: unknown };
        const service = typeof body.service === 'string' ? body.service : undefined;
        return send(200, await handlers.restart(service));
      }
      refuse(fail.NOT_FOUND(`no control route ${req.method} ${req.url}`));
    } catch (err) {
      refuse(fail.CONTROL_FAILED((err as Error).message));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

export const controlPort = (server: http.Server) => (server.address() as AddressInfo).port;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      data += c;
      if (data.length > 10_000) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

export class NotRunningError extends Error {
  constructor() {
    super('the supervisor is not running');
  }
}

/** The supervisor's process exists but its control endpoint does not answer (frozen, overloaded). */
export class NotAnsweringError extends Error {
  constructor(
    readonly state: SupervisorState,
    reason: string,
  ) {
    super(`the supervisor (pid ${state.pid}) is running but not answering: ${reason}`);
  }
}

/**
 * Calls a running supervisor; NotRunningError when there is none (or only a stale state file),
 * NotAnsweringError when its process lives but does not answer in time.
 */
export async function control<T>(
  home: string,
  method: 'GET' | 'POST',
  route: string,
  body?: object,
  timeoutMs = 5_000,
): Promise<T> {
  const state = readState(home);
  if (!state || !isAlive(state.pid)) throw new NotRunningError();
  let res: Response;
  try {
    res = await fetch(`http://127.0.0.1:${state.controlPort}${route}`, {
      method,
      headers: { [TOKEN_HEADER]: state.token, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (!isAlive(state.pid)) throw new NotRunningError();
    throw new NotAnsweringError(state, (err as Error).message);
  }
  const json = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new Error(json.error?.message ?? `control request failed with ${res.status}`);
  return json;
}
