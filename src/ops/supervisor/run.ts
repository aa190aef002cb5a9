import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { marketHoursOf } from '../../domain/slo-report.js';
import type { Config } from '../../kernel/config.js';
import {
  INTERNAL_TOKEN_ENV,
  issueInternalToken,
  removeInternalToken,
  secureHome,
} from '../../kernel/internal-auth.js';
import { createLogger, type Logger } from '../../kernel/logger.js';
import { commandLineOf, killTree } from '../../kernel/platform.js';
import { backupJob } from '../backup/job.js';
import { logRetentionJob } from '../maintenance/logs.js';
import { systemEventsFrom } from '../notify/system-events.js';
import { DailyJobs } from '../schedule.js';
import { recordProbes } from '../slo/record.js';
import {
  claimState,
  controlPort,
  isAlive,
  newToken,
  readState,
  removeState,
  type SupervisorState,
  startControlServer,
  stateFilePath,
  writeState,
} from './control.js';
import { createSupervisorMetrics, serveSupervisorMetrics } from './metrics.js';
import { type ProcessSpec, processSpecs } from './specs.js';
import { renderTable } from './status-table.js';
import { type ProbeResult, type ProcessStatus, Supervisor } from './supervisor.js';

export interface RunSupervisorOptions {
  config: Config;
  only?: string[];
  /** 'table': redraw a live table (a terminal); 'lines': print one line per state change. */
  display: 'table' | 'lines';
  out?: NodeJS.WritableStream;
}

/**
 * The supervisor process: refuses to start beside a live one, cleans up after a dead one, runs the
 * services, serves the control endpoint, keeps the state file current and stops everything on
 * SIGINT/SIGTERM or `tradingsystem stop`. Resolves with the exit code.
 */
export async function runSupervisor({
  config,
  only = [],
  display,
  out = process.stdout,
}: RunSupervisorOptions): Promise<number> {
  const { logger } = createLogger({
    service: 'supervisor',
    home: config.home,
    timeZone: config.timezone,
    level: config.log.level,
  });
  const specs = processSpecs(config, only);
  secureHome(config.home);

  const existing = readState(config.home);
  if (existing) {
    if (isAlive(existing.pid)) {
      out.write(
        `tradingsystem is already running (supervisor pid ${existing.pid}, started ${existing.startedAt})\n`,
      );
      return 1;
    }
    cleanUpStale(existing, specs, logger, config.home);
  } else if (unreadableStateFile(config.home)) {
    // Torn by a power cut or a full disk: nobody can be using it.
    logger.warn({ event: 'supervisor.stale_state' }, 'removed an unreadable state file');
    removeState(config.home);
  }

  // The internal credential joins the children's environment once this supervisor holds the state file.
  const childEnv: Record<string, string> = { TRADINGSYSTEM_HOME: config.home };
  const supervisor = new Supervisor(specs, config.supervisor, logger, childEnv);
  // Daily jobs, local time in config.timezone; started once the services are up.
  const jobs = new DailyJobs({
    timeZone: config.timezone,
    logger,
    stateFile: path.join(config.home, 'run', 'schedule.json'),
  });
  // Direct notifications (notify.channels): null when none is configured.
  const notify = systemEventsFrom(config, logger);
  jobs.add(logRetentionJob(config, logger));
  if (config.backup.scheduled) {
    const backup = backupJob(config, logger);
    jobs.add(notify ? notify.watchBackup(backup) : backup);
  }
  const { metricsHost, metricsPort } = config.supervisor;
  const metricsServer =
    metricsPort > 0
      ? await serveSupervisorMetrics(
          createSupervisorMetrics({
            supervisor,
            jobs,
            home: config.home,
            marketHours: marketHoursOf(config),
          }),
          { host: metricsHost, port: metricsPort },
          logger,
        )
      : null;
  const token = newToken();
  let stopRequested: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stopRequested = resolve;
  });
  const server = await startControlServer(token, {
    status: () => snapshot(),
    stop: () => stopRequested(),
    restart: async (service) => {
      await supervisor.restart(service);
      return snapshot();
    },
  });
  const state: SupervisorState = {
    pid: process.pid,
    controlPort: controlPort(server),
    token,
    startedAt: new Date().toISOString(),
    ready: false,
    processes: supervisor.status(),
  };
  const snapshot = () => ({
    ...state,
    token: undefined,
    processes: supervisor.status(),
    jobs: jobs.status(),
    ...(notify && { notify: notify.status() }),
  });

  const stateFile = new StateFileKeeper(config.home, state, logger);
  let claimed: boolean;
  try {
    claimed = claimState(config.home, state);
  } catch (err) {
    // Cannot write it (a full or read-only disk): run anyway, the services matter more; the file
    // is written as soon as the disk takes it. Until then `status` from another shell cannot see us.
    claimed = true;
    stateFile.failed(err as Error);
  }
  if (!claimed) {
    server.close();
    metricsServer?.close();
    const other = readState(config.home);
    out.write(`tradingsystem is already running (supervisor pid ${other?.pid ?? 'unknown'})\n`);
    return 1;
  }
  // A new credential at every start (no service of an earlier supervisor is adopted): the services
  // get it in their environment, the CLI and tests read the file.
  try {
    childEnv[INTERNAL_TOKEN_ENV] = issueInternalToken(config.home);
  } catch (err) {
    // A full disk: the services still need one; the CLI cannot reach them until the file is written.
    logger.error(
      { event: 'supervisor.internal_token_unwritten', err: (err as Error).message },
      'cannot write the internal token file',
    );
    childEnv[INTERNAL_TOKEN_ENV] = randomBytes(32).toString('base64url');
  }
  // Printing must not kill us either: a detached supervisor's output is a file on the data disk.
  out.on('error', () => {});
  logger.info(
    { event: 'supervisor.up', pid: process.pid, processes: specs.map((s) => s.name) },
    'supervisor started',
  );

  const stopRecording = recordProbes(supervisor, config, logger);
  const view = display === 'table' ? new LiveTable(out, () => supervisor.status()) : new ChangeLines(out);
  supervisor.on('change', (rows: ProcessStatus[]) => {
    state.processes = rows;
    stateFile.save();
    view.update(rows);
    notify?.onChange(rows);
  });
  // Never awaited: the notifier queues and sends on its own, so a probe is never slowed by it.
  if (notify) supervisor.on('probe', (p: ProbeResult) => notify.onProbe(p));
  notify?.start();
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ event: 'supervisor.signal', signal }, 'stopping on signal');
    stopRequested();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const starting = supervisor.start().then(() => {
    state.ready = true;
    state.processes = supervisor.status();
    stateFile.save();
    logger.info({ event: 'supervisor.ready' }, 'start sequence finished');
    void jobs.start();
  });

  await stopped;
  view.stop();
  out.write('stopping…\n');
  const jobsStopped = jobs.stop();
  // Before the services stop: their stopping is not an outage; the minutes after it have no record.
  stopRecording();
  await supervisor.stop();
  await starting.catch(() => {});
  await jobsStopped;
  await notify?.stop();
  server.close();
  metricsServer?.close();
  stateFile.stop();
  removeInternalToken(config.home);
  removeState(config.home);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  out.write(`${renderTable(supervisor.status())}\nstopped\n`);
  logger.info({ event: 'supervisor.down' }, 'supervisor stopped');
  return 0;
}

/**
 * A supervisor that died without stopping (kill -9, power loss) left a state file. Its services
 * stop by themselves when it goes (their IPC channel closes), but one that hangs is killed here,
 * after checking that the pid still runs the command we started.
 */
function cleanUpStale(stale: SupervisorState, specs: ProcessSpec[], logger: Logger, home: string): void {
  for (const p of stale.processes ?? []) {
    if (p.pid === null || !isAlive(p.pid)) continue;
    const spec = specs.find((s) => s.name === p.name);
    if (spec && commandLineOf(p.pid)?.join('\0') === spec.command.join('\0')) {
      logger.warn(
        { event: 'supervisor.orphan_killed', service: p.name, pid: p.pid },
        'killing orphan from a dead supervisor',
      );
      killTree(p.pid);
    }
  }
  logger.warn(
    { event: 'supervisor.stale_state', pid: stale.pid },
    'removed stale state file of a dead supervisor',
  );
  removeState(home);
}

/** A state file that exists but does not parse, and is not one being written right now. */
function unreadableStateFile(home: string): boolean {
  try {
    return Date.now() - statSync(stateFilePath(home)).mtimeMs > 2_000;
  } catch {
    return false;
  }
}

/** Retry period of a state file write that failed. */
const STATE_RETRY_MS = 1_000;

/**
 * Keeps `run/supervisor.json` current. A write that fails (a full or read-only disk) is logged
 * once, retried every second until it works, and never thrown: the supervisor must outlive it.
 */
class StateFileKeeper {
  private failing: string | null = null;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly home: string,
    private readonly state: SupervisorState,
    private readonly logger: Logger,
  ) {}

  save(): void {
    try {
      writeState(this.home, this.state);
    } catch (err) {
      this.failed(err as Error);
      return;
    }
    if (this.failing) {
      this.logger.info({ event: 'supervisor.state_written' }, 'state file written again');
      this.failing = null;
    }
  }

  failed(err: Error): void {
    if (!this.failing) {
      this.logger.error(
        { event: 'supervisor.state_write_failed', err: err.message },
        'cannot write the state file; retrying every second',
      );
    }
    this.failing = err.message;
    this.retry ??= setTimeout(() => {
      this.retry = null;
      this.save();
    }, STATE_RETRY_MS);
  }

  stop(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }
}

interface View {
  update(rows: ProcessStatus[]): void;
  stop(): void;
}

/** Redraws the status table in place in a terminal: on every change and once a second (uptime). */
class LiveTable implements View {
  private drawnLines = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly rows: () => ProcessStatus[],
  ) {
    this.timer = setInterval(() => this.draw(), 1_000);
  }

  update(): void {
    this.draw();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private draw(): void {
    const text = `${renderTable(this.rows())}\n(Ctrl-C stops everything)\n`;
    const up = this.drawnLines ? `\x1b[${this.drawnLines}A\x1b[J` : '';
    this.out.write(up + text);
    this.drawnLines = text.split('\n').length - 1;
  }
}

/** One line per state change, for logs and pipes. */
class ChangeLines implements View {
  private last = new Map<string, string>();
  constructor(private readonly out: NodeJS.WritableStream) {}
  update(rows: ProcessStatus[]): void {
    for (const r of rows) {
      const key = `${r.state}|${r.pid}|${r.detail}`;
      if (this.last.get(r.name) === key) continue;
      this.last.set(r.name, key);
      const time = new Date().toISOString().slice(11, 19);
      this.out.write(
        `${time} ${r.name} ${r.state}${r.pid ? ` pid=${r.pid}` : ''}${r.detail ? ` (${r.detail})` : ''}\n`,
      );
    }
  }
  stop(): void {}
}
