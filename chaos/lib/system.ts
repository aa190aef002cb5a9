import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TSchema } from 'typebox';
import { ConfigSchema } from '../../src/config.js';
import { SERVICE_NAMES, type ServiceName } from '../../src/kernel/config.js';
import { internalHeaders } from '../../src/kernel/internal-auth.js';
import { CLI, type CliResult, configEnv, freePorts, ROOT, tempHome } from '../../test/helpers/cli.js';
import type { Truth } from '../../test/helpers/market.js';
import { commandLineOf, pollUntil, processState, signal, sleep } from './util.js';

export { SERVICE_NAMES, type ServiceName };

/**
 * The `tradingsystem` the suite drives: CHAOS_CLI when set (`npm run chaos` points it at a snapshot
 * of dist/, so a rebuild during a long run cannot change the program under test), else dist/cli.js.
 */
export const CLI_PATH = process.env.CHAOS_CLI || CLI;

/** `runCli` of test/helpers/cli.ts, on CLI_PATH. */
function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
export const TICKERS = ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3'] as const;

/** A config fragment merged over the chaos defaults. */
export type ConfigPatch = Record<string, unknown>;

export interface SystemSpec {
  /** Prefix of the temp folder. */
  name: string;
  /** Average trades per second per instrument. */
  tradesPerSecond?: number;
  /**
   * How long the market stays open after the system has had time to start: the close is at
   * openAt + START_ALLOWANCE_MS + marketMs, so the tape has a known end.
   */
  marketMs: number;
  /** Explicit open/close instants (epoch ms) instead of marketMs (midnight). */
  openAt?: number;
  closeAt?: number;
  timezone?: string;
  /** Runs the momentum strategy in the order manager. */
  strategy?: boolean;
  /** Services not started (only for scenarios that need just one or two of them). */
  disabled?: ServiceName[];
  /** Merged over the defaults (objects deep, anything else replaced). */
  config?: ConfigPatch;
}

/** Time the whole system needs to start on the 2-core CI host (measured: 10 to 18 s). */
export const START_ALLOWANCE_MS = 15_000;

export interface SupervisorView {
  pid: number;
  ready: boolean;
  processes: {
    name: string;
    pid: number | null;
    state: string;
    restarts: number;
    detail: string | null;
    lastExit: string | null;
  }[];
}

export interface HealthAnswer {
  /** HTTP status, or null when nothing answered in time. */
  http: number | null;
  /** ok | degraded | down | unreachable */
  status: string;
  /** The checks that are not ok, as `name: status (detail)`. */
  failing: string[];
  // biome-ignore lint/suspicious/noExplicitAny: the parsed answer, read freely by checks
  body?: any;
}

export interface CallResult {
  /** 0 when nothing answered (refused, reset, timed out). */
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON answers are read freely by checks
  body: any;
  error?: string;
  ms: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function merge(
  base: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? merge(b, v) : v;
  }
  return out;
}

/** Whether the config schema has a key (dotted path): lets a scenario use a setting only once it exists. */
export function configHasKey(dotted: string): boolean {
  let node: TSchema | undefined = ConfigSchema;
  for (const part of dotted.split('.')) {
    const props: Record<string, TSchema> | undefined = (
      node as { properties?: Record<string, TSchema> } | undefined
    )?.properties;
    node = props?.[part];
    if (!node) return false;
  }
  return true;
}

/**
 * One whole supervised system in a temp folder: `{base}/tradingsystem.config.json` and the data
 * home `{base}/home` (a scenario may mount a file system there before `start`), free ports, a
 * simulated market with a known open and close, started with `tradingsystem start --detach`.
 */
export class ChaosSystem {
  readonly base: string;
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  readonly config: Record<string, unknown>;
  readonly openAt: number;
  readonly closeAt: number;
  readonly timezone: string;
  readonly services: ServiceName[];
  /** Every pid seen (supervisor and services): stragglers are killed by pid at the end. */
  private readonly pids = new Set<number>();

  private constructor(
    spec: SystemSpec,
    readonly ports: Record<ServiceName, number>,
  ) {
    this.base = tempHome(`chaos-${spec.name}-`);
    this.home = path.join(this.base, 'home');
    mkdirSync(this.home, { recursive: true });
    this.timezone = spec.timezone ?? 'America/Sao_Paulo';
    this.openAt = spec.openAt ?? Date.now() + 1_000;
    this.closeAt = spec.closeAt ?? this.openAt + START_ALLOWANCE_MS + spec.marketMs;
    const disabled = new Set(spec.disabled ?? []);
    this.services = SERVICE_NAMES.filter((n) => !disabled.has(n));
    const svc = (name: ServiceName, extra: object = {}) => ({
      port: ports[name],
      ...(disabled.has(name) && { enabled: false }),
      ...extra,
    });
    const defaults = {
      timezone: this.timezone,
      services: {
        'data-capture': svc('data-capture', { journal: { segmentMaxAgeMs: 2_000, fsyncIntervalMs: 20 } }),
        'order-manager': svc(
          'order-manager',
          spec.strategy
            ? {
                strategies: ['momentum'],
                momentum: {
                  consecutiveTrades: 4,
                  cooldownMs: 2_000,
                  maxPositionLots: 2,
                  symbols: ['WINZ26', 'WDOZ26'],
                },
              }
            : {},
        ),
        stream: svc('stream'),
        gateway: svc('gateway'),
        'idea-bank': svc('idea-bank'),
        docs: svc('docs', { dir: path.join(ROOT, 'docs') }),
      },
      sim: {
        tradesPerSecond: spec.tradesPerSecond ?? 200,
        openAt: new Date(this.openAt).toISOString(),
        closeAt: new Date(this.closeAt).toISOString(),
      },
      // Production policy, faster: probes every second, backoff 1 s doubling to 10 s (60 s in production).
      supervisor: {
        healthIntervalMs: 1_000,
        livenessFailures: 3,
        backoffInitialMs: 1_000,
        backoffMaxMs: 10_000,
        healthTimeoutMs: 20_000,
        stopTimeoutMs: 20_000,
      },
    };
    this.config = merge(defaults, spec.config ?? {});
    const env = configEnv(this.base, this.config);
    this.env = { ...env, TRADINGSYSTEM_HOME: this.home };
  }

  static async create(spec: SystemSpec): Promise<ChaosSystem> {
    // Distinct: ports picked one after another can repeat (the config then refuses the clash).
    const picked = await freePorts(SERVICE_NAMES.length);
    const ports = Object.fromEntries(SERVICE_NAMES.map((name, i) => [name, picked[i]])) as Record<
      ServiceName,
      number
    >;
    return new ChaosSystem(spec, ports);
  }

  url(service: ServiceName, route: string): string {
    return `http://127.0.0.1:${this.ports[service]}${route}`;
  }

  cli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
    return runCli(args, this.env, timeoutMs);
  }

  /** `tradingsystem start --detach`: returns once the start sequence has finished. */
  async start(): Promise<CliResult & { ms: number }> {
    const t = Date.now();
    const res = await this.cli(['start', '--detach'], 180_000);
    await this.remember();
    return { ...res, ms: Date.now() - t };
  }

  /** `tradingsystem stop`, then any process of this system still alive is killed by pid. */
  async stop(): Promise<{ code: number; stragglers: number[] }> {
    await this.remember();
    for (const pid of this.pids) signal(pid, 'SIGCONT'); // a frozen process cannot stop
    const res = await this.cli(['stop'], 240_000);
    const stragglers = await this.killStragglers();
    return { code: res.code, stragglers };
  }

  /** Kills, by pid, whatever still runs from this system: known pids and any process with this data home. */
  async killStragglers(): Promise<number[]> {
    const mine = new Set<number>();
    for (const pid of this.pids) if (this.ours(pid)) mine.add(pid);
    for (const pid of this.pidsWithThisHome()) mine.add(pid);
    for (const pid of mine) {
      signal(pid, 'SIGCONT');
      signal(-pid, 'SIGKILL');
      signal(pid, 'SIGKILL');
    }
    if (mine.size) await pollUntil(() => [...mine].every((p) => !this.ours(p)), 5_000, 100);
    return [...mine];
  }

  private ours(pid: number): boolean {
    const cmd = commandLineOf(pid);
    return cmd?.includes(CLI_PATH) ?? false;
  }

  /** Processes running our CLI whose environment names this data home. */
  private pidsWithThisHome(): number[] {
    const wanted = `TRADINGSYSTEM_HOME=${this.home}\0`;
    const out: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      if (pid === process.pid) continue;
      try {
        if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(wanted) && this.ours(pid)) out.push(pid);
      } catch {
        // gone, or not ours to read
      }
    }
    return out;
  }

  /** Records the pids the state file names. */
  async remember(): Promise<void> {
    const st = this.stateFile();
    if (!st) return;
    this.pids.add(st.pid);
    for (const p of st.processes ?? []) if (p.pid) this.pids.add(p.pid);
  }

  stateFile(): {
    pid: number;
    controlPort: number;
    token: string;
    processes?: { pid: number | null }[];
  } | null {
    try {
      return JSON.parse(readFileSync(path.join(this.home, 'run', 'supervisor.json'), 'utf8'));
    } catch {
      return null;
    }
  }

  supervisorPid(): number | null {
    return this.stateFile()?.pid ?? null;
  }

  /** The supervisor's status straight from its control endpoint (what `status --json` shows); null if it does not answer. */
  async status(timeoutMs = 1_500): Promise<SupervisorView | null> {
    const st = this.stateFile();
    if (!st) return null;
    try {
      const res = await fetch(`http://127.0.0.1:${st.controlPort}/status`, {
        headers: { 'x-supervisor-token': st.token },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) return null;
      const view = (await res.json()) as SupervisorView;
      this.pids.add(view.pid);
      for (const p of view.processes) if (p.pid) this.pids.add(p.pid);
      return view;
    } catch {
      return null;
    }
  }

  /** The pid of a service while the supervisor says it runs (any state). */
  async pid(service: ServiceName): Promise<number | null> {
    const st = await this.status();
    return st?.processes.find((p) => p.name === service)?.pid ?? null;
  }

  async health(service: ServiceName, timeoutMs = 2_000): Promise<HealthAnswer> {
    try {
      const res = await fetch(this.url(service, '/health'), { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json().catch(() => ({}))) as {
        status?: string;
        checks?: Record<string, { status: string; detail?: string } & Record<string, unknown>>;
      };
      const failing = Object.entries(body.checks ?? {})
        .filter(([, c]) => c.status !== 'ok')
        .map(([n, c]) => `${n}: ${c.status}${c.detail ? ` (${c.detail})` : ''}`);
      return { http: res.status, status: body.status ?? 'unknown', failing, body };
    } catch {
      return { http: null, status: 'unreachable', failing: [] };
    }
  }

  /** One HTTP call that never throws: status 0 when nothing answered. */
  async call(
    service: ServiceName,
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs = 10_000,
  ): Promise<CallResult> {
    const t = Date.now();
    try {
      const res = await fetch(this.url(service, route), {
        method,
        headers: {
          // Internal services require the supervisor's credential; the gateway has its own auth.
          ...(service !== 'gateway' && internalHeaders(this.home)),
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed, ms: Date.now() - t };
    } catch (err) {
      return { status: 0, body: null, error: (err as Error).message, ms: Date.now() - t };
    }
  }

  truth(): Promise<Truth> {
    return this.call('data-capture', 'GET', '/api/sim/truth').then((r) => {
      if (r.status !== 200) throw new Error(`sim truth answered ${r.status} ${r.error ?? ''}`);
      return r.body as Truth;
    });
  }

  /** The gateway's first admin key, written at its first start. */
  adminKey(): string {
    return readFileSync(path.join(this.home, 'gateway', 'initial-admin-key'), 'utf8').trim();
  }

  /** Waits until the order manager takes orders: routing connected and reconciled. */
  async orderManagerReady(timeoutMs = 30_000): Promise<boolean> {
    return (
      (await pollUntil(
        async () => (await this.health('order-manager')).body?.checks?.broker?.status === 'ok',
        timeoutMs,
        200,
      )) !== null
    );
  }

  /** Raises the risk limits so the load is never refused by risk (it tests durability, not risk). */
  async wideRiskLimits(extra: Record<string, unknown> = {}): Promise<void> {
    const limits = (await this.call('order-manager', 'GET', '/api/risk/limits')).body?.data;
    if (!limits) throw new Error('cannot read the risk limits');
    const wide = { maxOrderQty: 5, maxPosition: 100_000, maxNotional: 100_000_000, priceBandPct: 50 };
    const put = await this.call('order-manager', 'PUT', '/api/risk/limits', {
      ...limits,
      future: { ...limits.future, ...wide },
      equity: { ...limits.equity, maxPosition: 1_000_000, maxNotional: 100_000_000, priceBandPct: 50 },
      enforceTradingHours: false,
      dailyLossLimit: 1_000_000_000,
      // The ceilings the order manager accepts (finding 7): far above what a scenario sends.
      maxOrdersPerWindow: 100_000,
      maxOpenOrders: 100_000,
      duplicateWindowMs: 0,
      ...extra,
    });
    if (put.status !== 200)
      throw new Error(`PUT /api/risk/limits answered ${put.status}: ${JSON.stringify(put.body)}`);
  }

  logFile(service: string, date: string): string {
    return path.join(this.home, 'logs', service, `${date}.jsonl`);
  }

  /** Every line of a service's logs (all days' files). */
  logLines(service: string): string[] {
    const dir = path.join(this.home, 'logs', service);
    if (!existsSync(dir)) return [];
    const out: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl'))) {
      try {
        out.push(...readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
      } catch {
        // unreadable (a full or read-only disk): no lines from it
      }
    }
    return out;
  }

  /** Lines of a service's logs that carry `"event":"<event>"`. */
  logEvents(service: string, event: string): string[] {
    const needle = `"event":"${event}"`;
    return this.logLines(service).filter((l) => l.includes(needle));
  }

  /** Waits for a pid to be gone. */
  static async gone(pid: number, timeoutMs = 30_000): Promise<boolean> {
    return (await pollUntil(() => isGone(pid), timeoutMs, 50)) !== null;
  }
}

/** Exited: no such process, or a zombie waiting for its parent. */
export const isGone = (pid: number) => {
  const state = processState(pid);
  return state === null || state === 'Z';
};

export { sleep };
