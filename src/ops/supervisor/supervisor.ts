import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { type Clock, systemClock, type Timer } from '../../kernel/clock.js';
import type { Config } from '../../kernel/config.js';
import { foreignAnswer, probeHealth } from '../../kernel/health-probe.js';
import type { Logger } from '../../kernel/logger.js';
import { askToStop, killTree, OWN_GROUP } from '../../kernel/platform.js';
import type { ProcessSpec } from './specs.js';

export type ProcessState =
  | 'stopped'
  | 'starting'
  | 'healthy'
  | 'degraded'
  | 'unhealthy'
  | 'backoff'
  | 'failed'
  | 'stopping';

export interface ProcessStatus {
  name: string;
  pid: number | null;
  host: string;
  port: number;
  state: ProcessState;
  restarts: number;
  /** Seconds since the current process started, or null when none runs. */
  uptimeSeconds: number | null;
  lastExit: string | null;
  detail: string | null;
}

type SupervisorPolicy = Config['supervisor'];

/**
 * One health probe of one service, emitted as 'probe' after every probe (metrics, availability
 * records and notifications listen to it). `ok` is the service's own answer: 200, ok or degraded.
 */
export interface ProbeResult {
  service: string;
  /** Epoch ms when the probe started. */
  at: number;
  ok: boolean;
  /** null when no HTTP answer came (refused, reset, timed out). */
  httpStatus: number | null;
  latencyMs: number;
  /** The service's state after the probe. */
  state: ProcessState;
  /** The service's own checks, as its `/health` reported them. */
  checks?: Record<string, { status?: string; [extra: string]: unknown }>;
}

const PROBE_TIMEOUT_MS = 2_000;

const GATE_POLL_MS = 100;
/**
 * Each liveness kill doubles the next run's patience (its start allowance and the misses that kill
 * it), up to this factor; answering for `backoffResetMs` without a miss brings it back to 1 (so does
 * `restart`). A service that went silent catching up after a restart (a long backlog, feed clients
 * resuming) is otherwise killed again before it has caught up, every restart adding to the backlog:
 * a death spiral the soak saw.
 */
const MAX_LIVENESS_PATIENCE = 8;
const OUTPUT_TAIL_LINES = 20;

class Managed {
  child: ChildProcess | null = null;
  state: ProcessState = 'stopped';
  restarts = 0;
  startedAt = 0;
  healthySince = 0;
  crashTimes: number[] = [];
  nextBackoffMs: number;
  livenessMisses = 0;
  /** Multiplies the start allowance and the misses allowed; doubled by each liveness kill. */
  livenessPatience = 1;
  /** Since when every probe had an answer (0: the last one had none). */
  answeringSince = 0;
  probing = false;
  /** Why we killed the current process, shown with its exit. */
  killedFor: string | null = null;
  lastExit: string | null = null;
  detail: string | null = null;
  outputTail: string[] = [];
  restartTimer: Timer | null = null;
  /** Set while we are the ones stopping it, so its exit is not a crash. */
  stopping = false;
  /** What answered its health endpoint last, when that was not our process (another program on its port). */
  foreign: string | null = null;

  constructor(
    readonly spec: ProcessSpec,
    initialBackoffMs: number,
  ) {
    this.nextBackoffMs = initialBackoffMs;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }
}

/** Still within its start allowance: not answering yet is not a miss. */
function booting(p: Managed, policy: SupervisorPolicy, now: number): boolean {
  return p.state === 'starting' && now - p.startedAt < policy.healthTimeoutMs * p.livenessPatience;
}

/**
 * Runs processes in dependency order, each gated on its health endpoint before the next starts;
 * restarts a crashed one with exponential backoff, gives up on a crash loop, kills a process that
 * stops answering its health endpoint, and stops everything in reverse order.
 * Emits 'change' whenever any process changes state.
 */
export class Supervisor extends EventEmitter {
  private readonly procs: Managed[];
  private monitor: Timer | null = null;
  private shuttingDown = false;

  constructor(
    specs: ProcessSpec[],
    private readonly policy: SupervisorPolicy,
    private readonly logger: Logger,
    private readonly childEnv: Record<string, string> = {},
    private readonly clock: Clock = systemClock,
  ) {
    super();
    this.procs = specs.map((s) => new Managed(s, policy.backoffInitialMs));
  }

  status(): ProcessStatus[] {
    const now = this.clock.now();
    return this.procs.map((p) => ({
      name: p.spec.name,
      pid: p.pid,
      host: p.spec.host,
      port: p.spec.port,
      state: p.state,
      restarts: p.restarts,
      uptimeSeconds: p.child ? Math.round((now - p.startedAt) / 1000) : null,
      lastExit: p.lastExit,
      detail: p.detail,
    }));
  }

  /** Starts every process in order; resolves once each is healthy, failed, or past its gate timeout. */
  async start(): Promise<void> {
    this.monitor ??= this.clock.every(this.policy.healthIntervalMs, () => void this.probeAll());
    for (const p of this.procs) {
      if (this.shuttingDown) return;
      await this.startAndGate(p);
    }
  }

  async restart(name?: string): Promise<void> {
    const targets = name ? this.procs.filter((p) => p.spec.name === name) : this.procs;
    if (name && targets.length === 0) throw new Error(`unknown service ${name}`);
    for (const p of [...targets].reverse()) await this.stopOne(p);
    for (const p of targets) {
      p.crashTimes = [];
      p.nextBackoffMs = this.policy.backoffInitialMs;
      p.livenessPatience = 1;
      await this.startAndGate(p);
    }
  }

  /** Stops every process, dependents first: asked to stop, then killed after the timeout. */
  async stop(): Promise<void> {
    this.shuttingDown = true;
    this.clock.cancel(this.monitor);
    this.monitor = null;
    for (const p of [...this.procs].reverse()) await this.stopOne(p);
  }

  private async startAndGate(p: Managed): Promise<void> {
    this.spawn(p);
    await this.gate(p);
  }

  /**
   * Waits for a just-spawned process to answer healthy, probing it often until then. At start a
   * crash during the gate is restarted by the exit handler and the gate keeps waiting for the
   * verdict; after a restart (`onlyThisRun`) the next restart brings its own gate.
   */
  private async gate(p: Managed, onlyThisRun = false): Promise<void> {
    const allowanceMs = this.policy.healthTimeoutMs * p.livenessPatience;
    const deadline = this.clock.now() + allowanceMs;
    while (!this.shuttingDown) {
      if (onlyThisRun && p.state === 'backoff') return;
      if (p.state === 'healthy' || p.state === 'degraded' || p.state === 'failed' || p.state === 'stopped')
        return;
      if (this.clock.now() > deadline) {
        const detail = `not healthy within ${allowanceMs} ms${p.foreign ? `: ${p.foreign}` : ''}`;
        this.logger.error({ event: 'supervisor.health_gate_timeout', service: p.spec.name }, detail);
        // A running process stays under the monitor, which may still see it healthy or kill it.
        if (p.state === 'starting') {
          p.state = 'unhealthy';
          p.detail = detail;
          this.changed();
        }
        return;
      }
      if (p.child && p.state === 'starting') await this.probe(p);
      await this.clock.sleep(GATE_POLL_MS);
    }
  }

  private spawn(p: Managed): void {
    const [cmd, ...args] = p.spec.command;
    if (!cmd) throw new Error(`empty command for ${p.spec.name}`);
    p.restartTimer = null;
    p.stopping = false;
    p.livenessMisses = 0;
    p.answeringSince = 0;
    p.killedFor = null;
    p.healthySince = 0;
    p.outputTail = [];
    const child = spawn(cmd, args, {
      env: { ...process.env, ...this.childEnv, ...p.spec.env, TRADINGSYSTEM_SUPERVISED: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Own process group: Ctrl-C reaches only the supervisor, which stops children in order,
      // and a stop ends the whole group (tree, on Windows) so no grandchild survives.
      ...OWN_GROUP,
    });
    p.child = child;
    p.startedAt = this.clock.now();
    p.state = 'starting';
    p.detail = null;
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) p.outputTail.push(line);
      }
      if (p.outputTail.length > OUTPUT_TAIL_LINES)
        p.outputTail.splice(0, p.outputTail.length - OUTPUT_TAIL_LINES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) => {
      p.detail = `spawn failed: ${err.message}`;
      this.logger.error({ event: 'supervisor.spawn_failed', service: p.spec.name, err }, 'spawn failed');
    });
    child.on('exit', (code, signal) => this.onExit(p, child, code, signal));
    this.logger.info(
      { event: 'supervisor.started', service: p.spec.name, pid: child.pid },
      'process started',
    );
    this.changed();
  }

  private onExit(p: Managed, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (p.child !== child) return;
    p.child = null;
    p.lastExit = signal ? `signal ${signal}${p.killedFor ? ` (${p.killedFor})` : ''}` : `code ${code}`;
    if (p.stopping || this.shuttingDown) {
      p.state = 'stopped';
      this.changed();
      return;
    }
    const now = this.clock.now();
    if (p.healthySince && now - p.healthySince >= this.policy.backoffResetMs) {
      p.nextBackoffMs = this.policy.backoffInitialMs;
    }
    // Each liveness kill doubles the time to the next one: the window grows with it, so a service
    // killed again and again for silence still counts as a crash loop (and raises its alert).
    const windowMs = this.policy.crashLoopWindowMs * p.livenessPatience;
    p.crashTimes = [...p.crashTimes.filter((t) => now - t < windowMs), now];
    const output = p.outputTail.slice(-5);
    const foreign = p.foreign ? `; ${p.foreign}` : '';
    if (p.crashTimes.length >= this.policy.crashLoopMax) {
      // A crash loop is not given up on for good: a trading service that stays down loses ticks
      // or orders, and its cause (a full disk, a broker outage) often goes away by itself.
      const retryMs = this.policy.failedRetryMs;
      p.state = 'failed';
      p.detail = `crash loop: ${p.crashTimes.length} crashes in ${Math.round(windowMs / 1000)} s; ${
        retryMs > 0 ? `trying again in ${Math.round(retryMs / 1000)} s` : 'not restarting'
      }${foreign}`;
      this.logger.error(
        {
          event: 'supervisor.crash_loop',
          service: p.spec.name,
          crashes: p.crashTimes.length,
          lastExit: p.lastExit,
          retryInMs: retryMs || null,
          output,
        },
        p.detail,
      );
      this.changed();
      if (retryMs > 0) {
        p.restartTimer = this.clock.after(retryMs, () => {
          if (this.shuttingDown || p.state !== 'failed') return;
          p.restarts += 1;
          this.logger.warn(
            { event: 'supervisor.failed_retry', service: p.spec.name },
            'trying a crash-looping service again',
          );
          this.spawn(p);
          void this.gate(p, true);
        });
      }
      return;
    }
    const delay = p.nextBackoffMs;
    p.nextBackoffMs = Math.min(p.nextBackoffMs * 2, this.policy.backoffMaxMs);
    p.state = 'backoff';
    p.detail = `exited (${p.lastExit}); restarting in ${delay} ms${foreign}`;
    this.logger.warn(
      { event: 'supervisor.crashed', service: p.spec.name, lastExit: p.lastExit, restartInMs: delay, output },
      'process exited unexpectedly',
    );
    this.changed();
    p.restartTimer = this.clock.after(delay, () => {
      if (this.shuttingDown || p.state !== 'backoff') return;
      p.restarts += 1;
      this.spawn(p);
      void this.gate(p, true);
    });
  }

  private async stopOne(p: Managed): Promise<void> {
    this.clock.cancel(p.restartTimer);
    p.restartTimer = null;
    const child = p.child;
    p.stopping = true;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      if (p.state !== 'failed') p.state = 'stopped';
      this.changed();
      return;
    }
    p.state = 'stopping';
    this.changed();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    askToStop(child);
    const inTime = await Promise.race([
      exited.then(() => true),
      this.clock.sleep(this.policy.stopTimeoutMs).then(() => false),
    ]);
    if (!inTime) {
      this.logger.warn(
        { event: 'supervisor.stop_timeout', service: p.spec.name },
        'did not stop in time; killing',
      );
      killTree(child.pid);
      await exited;
    }
    // Whatever the service left in its group goes too.
    killTree(child.pid);
    this.logger.info({ event: 'supervisor.stopped', service: p.spec.name }, 'process stopped');
  }

  private async probeAll(): Promise<void> {
    await Promise.all(this.procs.filter((p) => p.child && !p.stopping).map((p) => this.probe(p)));
  }

  /**
   * One probe at a time per process: probes that overlapped while it was frozen would all time
   * out together and count one silence as several misses.
   */
  private async probe(p: Managed): Promise<void> {
    if (p.probing) return;
    p.probing = true;
    try {
      await this.probeOnce(p);
    } finally {
      p.probing = false;
    }
  }

  private async probeOnce(p: Managed): Promise<void> {
    const child = p.child;
    if (!child) return;
    const at = this.clock.now();
    const r = await probeHealth(`http://${p.spec.host}:${p.spec.port}${p.spec.healthPath}`, PROBE_TIMEOUT_MS);
    if (p.child !== child) return; // gone meanwhile
    const probed: ProbeResult = {
      service: p.spec.name,
      at,
      ok: r.httpStatus === 200,
      httpStatus: r.httpStatus,
      latencyMs: r.latencyMs,
      state: p.state,
      ...(r.checks && { checks: r.checks }),
    };
    if (r.httpStatus === null) {
      // Not listening yet is normal while booting, until the health timeout.
      if (booting(p, this.policy, this.clock.now())) return;
      this.emit('probe', probed);
      this.missed(
        p,
        child,
        { err: r.detail ?? 'no answer' },
        'health endpoint not answering; killing for restart',
      );
      return;
    }
    const foreign = foreignAnswer(p.spec, child.pid, r.answeredBy);
    if (foreign) {
      this.heldByAnother(p, child, foreign);
      return;
    }
    if (p.foreign) p.foreign = null;
    p.livenessMisses = 0;
    // Only a 200 counts as up (a 503 is the service saying it is down).
    const next: ProcessState =
      r.httpStatus === 200 ? (r.status === 'degraded' ? 'degraded' : 'healthy') : 'unhealthy';
    const detail =
      next !== 'healthy' && r.checks
        ? Object.entries(r.checks)
            .filter(([, c]) => c.status !== 'ok')
            .map(([name, c]) => `${name}: ${c.status}`)
            .join(', ')
        : null;
    if (p.child !== child || p.stopping) return;
    this.emit('probe', { ...probed, state: next });
    if ((next === 'healthy' || next === 'degraded') && !p.healthySince) p.healthySince = this.clock.now();
    p.answeringSince ||= this.clock.now();
    if (p.livenessPatience > 1 && this.clock.now() - p.answeringSince >= this.policy.backoffResetMs)
      p.livenessPatience = 1;
    if (next === 'unhealthy') p.healthySince = 0;
    if (next !== p.state || detail !== p.detail) {
      if (next !== p.state)
        this.logger.info(
          { event: 'supervisor.state', service: p.spec.name, state: next, detail },
          'state changed',
        );
      p.state = next;
      p.detail = detail;
      this.changed();
    }
  }

  /**
   * Its port answered, but not as the process we started: another program holds the port (a
   * leftover from another data home, anything listening there). Never healthy; to the liveness
   * check it is a process that does not answer, and the reason shows in its detail and log.
   */
  private heldByAnother(p: Managed, child: ChildProcess, foreign: string): void {
    if (p.child !== child || p.stopping) return;
    if (p.foreign !== foreign) {
      p.foreign = foreign;
      this.logger.error(
        {
          event: 'supervisor.port_held',
          service: p.spec.name,
          port: p.spec.port,
          ourPid: child.pid,
          foreign,
        },
        foreign,
      );
    }
    if (p.detail !== foreign || p.state === 'healthy' || p.state === 'degraded') {
      if (p.state === 'healthy' || p.state === 'degraded') p.state = 'unhealthy';
      p.healthySince = 0;
      p.detail = foreign;
      this.changed();
    }
    if (booting(p, this.policy, this.clock.now())) return;
    this.missed(p, child, { foreign }, 'our process does not answer on its port; killing for restart');
  }

  /** One probe without an answer from our process: enough of them in a row and it is killed. */
  private missed(p: Managed, child: ChildProcess, why: Record<string, string>, message: string): void {
    if (p.killedFor || p.stopping) return; // already killed or being stopped: its exit is on the way
    p.livenessMisses += 1;
    p.answeringSince = 0;
    const allowed = this.policy.livenessFailures * p.livenessPatience;
    if (p.livenessMisses < allowed) return;
    p.livenessPatience = Math.min(p.livenessPatience * 2, MAX_LIVENESS_PATIENCE);
    p.killedFor = `${why.foreign ? 'its port answered by another program' : 'no answer'} to ${p.livenessMisses} health probes; next start gets ${p.livenessPatience}× the patience`;
    this.logger.error(
      {
        event: 'supervisor.liveness_failed',
        service: p.spec.name,
        misses: p.livenessMisses,
        nextPatience: p.livenessPatience,
        ...why,
      },
      message,
    );
    if (child.pid !== undefined) killTree(child.pid);
  }

  private changed(): void {
    this.emit('change', this.status());
  }
}
