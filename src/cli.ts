#!/usr/bin/env node
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from './config.js';
import { type Config, ConfigError, SERVICE_NAMES, type ServiceName } from './kernel/config.js';
import { internalHeaders } from './kernel/internal-auth.js';
import { runService } from './kernel/service.js';
import { backupCommand, drDrillCommand, restoreCommand } from './ops/backup/command.js';
import { deployCommand, releaseCommand, releasesCommand, rollbackCommand } from './ops/deploy/commands.js';
import { logsCommand } from './ops/logs/command.js';
import { checkConnectionCommand } from './ops/maintenance/connection.js';
import { checkDiskCommand } from './ops/maintenance/disk.js';
import { healthCheckCommand } from './ops/maintenance/health-check.js';
import { cleanLogsCommand } from './ops/maintenance/logs.js';
import { healthCommand } from './ops/maintenance/service-health.js';
import { monitoringCommand } from './ops/monitoring/command.js';
import { serviceCommand } from './ops/service/commands.js';
import { sloCommand } from './ops/slo/command.js';
import { AlreadyRunningError, isUp, startInBackground, stopSupervisor } from './ops/supervisor/background.js';
import {
  control,
  isAlive,
  NotAnsweringError,
  NotRunningError,
  readState,
  type SupervisorState,
} from './ops/supervisor/control.js';
import { runSupervisor } from './ops/supervisor/run.js';
import { processSpecs } from './ops/supervisor/specs.js';
import { renderTable } from './ops/supervisor/status-table.js';
import type { ProcessStatus } from './ops/supervisor/supervisor.js';
import { UsageError } from './ops/usage.js';
import { SERVICE_MODULES } from './services/registry.js';

const USAGE = `tradingsystem — B3 trading platform

usage: tradingsystem <command> [options]

  start [service...] [--detach]   start the supervised system (foreground unless --detach)
  stop                            stop a running supervisor and every service
  restart [service]               restart one service, or all of them
  status [--json]                 what the supervisor runs: pid, port, state, restarts, uptime
  health [--json]                 probe every service's /health; exit 0 only if all are ok
  run <service>                   run one service in the foreground, without the supervisor
  sim fault <kind> [--for 10s]    inject a simulator fault: disconnect, stall, slow-callbacks, login-fail
  sim clear | sim faults          clear the faults / list the active ones
  sim truth [--json]              the last trade number the simulated market printed, per instrument
  retention [--days N]            delete Parquet partitions older than N days (default: config, 90)
  keys create --role R --name N [--accounts A,B|*]
                                  create an API key (viewer, trader or admin); prints it once;
                                  it trades for the configured account unless --accounts says
  keys accounts <id> A,B|*        the accounts a key may trade for (* = all, for admins)
  keys list [--json]              the API keys, without secrets
  keys revoke <id>                revoke an API key; the gateway refuses it within a second
  backup now [--no-verify]        back up the data home while everything runs, then verify it
  backup list [--json]            the backups: date, status (verified/unverified/bad), files, size
  backup verify <name>            re-hash every file, check SQLite, JSON and Parquet
  backup install-schedule [--dir D] [--windows]   an OS timer for the daily backup (systemd / Task Scheduler)
  restore --date D [--dry-run]    verify, stop, keep the current data aside, restore, start, wait for health
  dr-drill [--keep] [--json]      backup, restore into a scratch home, run it beside this one, compare, time it
  health-check [--json]           services, broker, disk, last good backup, clock, open gaps, reconciliation; exit 1 on any problem
  check-connection [--json] [--transitions N]   the broker session: state, recent transitions, retries, last trade per ticker
  check-disk [--json] [--usage]   free space of the data home: exit 0 ok, 1 below the warning level, 4 below the critical
  clean-logs [--days N] [--dry-run] [--json]   remove log files older than N days (default log.retentionDays); never today's
  logs [--service S] [--level L] [--since 1h|ISO] [--grep TEXT] [--follow] [--json]   every service's logs merged by time
  slo [--from ISO] [--to ISO] [--json]   availability in market hours, tick-to-order P95, order success, data loss vs objectives
  monitoring up | down | status [--json]   Prometheus and Alertmanager from the installed programs, with
                                  deploy/'s files, data under {home}/monitoring, targets from this config
  deploy <release.tgz | folder> [--version V]   install a release, restart the services on it one at a time,
                                  roll back by itself when one fails health
  rollback [--to <version>]       back to the release before the current one (or the one named)
  releases [--json]               the installed releases, the current one marked, the last changes
  release pack [--out DIR]        a release tarball of this built checkout (with production node_modules)
  release info [--json]           what this program is and which release is current
  service install [--no-enable] [--no-start]   the supervisor as an OS service: systemd unit / WinSW (Windows)
  service uninstall | status [--json] | unit [--windows] [--template]

config: ./tradingsystem.config.json (or TRADINGSYSTEM_CONFIG), overridden by TRADINGSYSTEM__* env;
data home: TRADINGSYSTEM_HOME (default ./data)
`;

type Handler = (args: string[], config: Config) => Promise<number>;

const commands: Record<string, Handler> = {
  backup: backupCommand,
  restore: restoreCommand,
  'dr-drill': drDrillCommand,
  'health-check': healthCheckCommand,
  'check-connection': checkConnectionCommand,
  'check-disk': checkDiskCommand,
  'clean-logs': cleanLogsCommand,
  logs: logsCommand,
  slo: sloCommand,
  monitoring: monitoringCommand,
  health: healthCommand,
  deploy: deployCommand,
  rollback: rollbackCommand,
  releases: releasesCommand,
  release: releaseCommand,
  service: serviceCommand,

  async start(args, config) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { detach: { type: 'boolean' }, 'in-background': { type: 'boolean' } },
    });
    processSpecs(config, positionals); // unknown names fail here, before anything starts
    if (values.detach) return startDetached(config, positionals);
    const display = process.stdout.isTTY && !values['in-background'] ? 'table' : 'lines';
    return runSupervisor({ config, only: positionals, display });
  },

  async stop(_args, config) {
    const state = readState(config.home);
    if (!state || !isAlive(state.pid)) {
      console.log('tradingsystem is not running');
      return 0;
    }
    const timeoutMs =
      config.supervisor.stopTimeoutMs * (SERVICE_NAMES.length + config.supervisor.extra.length) + 5_000;
    if (!(await stopSupervisor(config.home, timeoutMs))) {
      console.error(`supervisor pid ${state.pid} did not stop in time`);
      return 1;
    }
    console.log('stopped');
    return 0;
  },

  async restart(args, config) {
    const service = args[0];
    const result = await control<{ processes: ProcessStatus[] }>(
      config.home,
      'POST',
      '/restart',
      service ? { service } : {},
      config.supervisor.healthTimeoutMs * (SERVICE_NAMES.length + 1),
    );
    console.log(renderTable(result.processes));
    return result.processes.every(isUp) ? 0 : 1;
  },

  async status(args, config) {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
    let status: Omit<SupervisorState, 'token'> | null = null;
    let notAnswering: NotAnsweringError | null = null;
    try {
      status = await control<Omit<SupervisorState, 'token'>>(config.home, 'GET', '/status');
    } catch (err) {
      if (err instanceof NotAnsweringError) notAnswering = err;
      else if (!(err instanceof NotRunningError)) throw err;
    }
    if (notAnswering) {
      // Alive but silent (frozen, stopped with SIGSTOP, overloaded): say so, with what it last wrote.
      const { token: _token, ...last } = notAnswering.state;
      if (values.json) console.log(JSON.stringify({ running: true, answering: false, ...last }, null, 2));
      else {
        console.log(`${notAnswering.message}; its last written state:`);
        console.log(renderTable(last.processes ?? []));
      }
      return 4;
    }
    if (values.json) {
      console.log(
        JSON.stringify(
          status ? { running: true, answering: true, ...status } : { running: false, processes: [] },
          null,
          2,
        ),
      );
    } else if (status) {
      console.log(
        `supervisor pid ${status.pid}, started ${status.startedAt}${status.ready ? '' : ' (starting)'}`,
      );
      console.log(renderTable(status.processes));
    } else {
      console.log('tradingsystem is not running');
    }
    return status ? 0 : 3;
  },

  async sim(args, config) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { for: { type: 'string' }, json: { type: 'boolean' } },
    });
    const [action, kind] = positionals;
    if (action === 'fault' && kind) {
      const durationMs = values.for ? parseDuration(values.for) : undefined;
      const res = await dataCapture<{ active: unknown[] }>(config, 'POST', '/api/sim/faults', {
        kind,
        ...(durationMs && { durationMs }),
      });
      console.log(`fault '${kind}' injected${durationMs ? ` for ${durationMs} ms` : ' until cleared'}`);
      console.log(JSON.stringify(res.active));
      return 0;
    }
    if (action === 'clear' || action === 'faults') {
      const res = await dataCapture<{ active: unknown[] }>(
        config,
        action === 'clear' ? 'DELETE' : 'GET',
        '/api/sim/faults',
      );
      console.log(JSON.stringify(res.active, null, 2));
      return 0;
    }
    if (action === 'truth') {
      const res = await dataCapture<{
        asOf: string;
        instruments: Record<string, { lastTradeId: number; ts: string } | null>;
      }>(config, 'GET', '/api/sim/truth');
      if (values.json) console.log(JSON.stringify(res, null, 2));
      else {
        console.log(`as of ${res.asOf}`);
        for (const [symbol, last] of Object.entries(res.instruments)) {
          console.log(`${symbol.padEnd(8)} ${last ? `${last.lastTradeId} at ${last.ts}` : 'no trade yet'}`);
        }
      }
      return 0;
    }
    console.error(
      'usage: tradingsystem sim fault <disconnect|stall|slow-callbacks|login-fail> [--for 10s] | sim clear | sim faults | sim truth',
    );
    return 2;
  },

  async retention(args, config) {
    const { values } = parseArgs({ args, options: { days: { type: 'string' } } });
    const days =
      values.days === undefined ? config.services['data-capture'].parquetRetentionDays : Number(values.days);
    if (!Number.isInteger(days) || days < 1) {
      console.error(`--days must be a whole number of days >= 1 (got '${values.days}')`);
      return 2;
    }
    const { removeOldPartitions } = await import('./adapters/storage/parquet-partitions.js');
    const removed = await removeOldPartitions(
      path.join(config.home, 'parquet'),
      days,
      Date.now(),
      config.timezone,
    );
    console.log(
      removed.length ? removed.map((r) => `removed ${r}`).join('\n') : `nothing older than ${days} days`,
    );
    return 0;
  },

  async keys(args, config) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        role: { type: 'string' },
        name: { type: 'string' },
        accounts: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
    const { KeyStore, ROLES } = await import('./kernel/auth/keys.js');
    const store = KeyStore.at(config.home);
    const [action, id, list] = positionals;
    const split = (text: string) => text.split(',').map((a) => a.trim());
    if (action === 'accounts' && id && list) {
      try {
        if (!(await store.setAccounts(id, split(list)))) {
          console.error(`no API key with id '${id}'`);
          return 1;
        }
      } catch (err) {
        console.error((err as Error).message);
        return 2;
      }
      console.log(`key ${id} trades for ${list}`);
      return 0;
    }
    if (action === 'create') {
      const role = ROLES.find((r) => r === values.role);
      const name = values.name?.trim();
      if (!role || !name) {
        console.error(`usage: tradingsystem keys create --role <${ROLES.join('|')}> --name <name>`);
        return 2;
      }
      let created: Awaited<ReturnType<typeof store.create>>;
      try {
        created = await store.create(name, role, values.accounts ? split(values.accounts) : undefined);
      } catch (err) {
        console.error((err as Error).message);
        return 2;
      }
      const { key, record } = created;
      console.log(key);
      console.error(`created ${role} key '${name}' (id ${record.id}); it is shown only this once`);
      return 0;
    }
    if (action === 'list') {
      await store.load();
      const keys = store.list().map(({ salt: _s, hash: _h, ...k }) => k);
      if (values.json) console.log(JSON.stringify(keys, null, 2));
      else if (!keys.length) console.log('no API keys');
      else {
        for (const k of keys) {
          console.log(
            `${k.id}  ${k.role.padEnd(6)}  ${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}  ${k.createdAt}  ${k.name}  accounts: ${(k.accounts ?? [config.services['order-manager'].account]).join(',')}`,
          );
        }
      }
      return 0;
    }
    if (action === 'revoke' && id) {
      if (!(await store.revoke(id))) {
        console.error(`no API key with id '${id}'`);
        return 1;
      }
      console.log(`revoked ${id}`);
      return 0;
    }
    console.error(
      'usage: tradingsystem keys create --role R --name N [--accounts A,B|*] | keys list [--json] | keys revoke <id> | keys accounts <id> A,B|*',
    );
    return 2;
  },

  async run(args) {
    const name = args[0] as ServiceName | undefined;
    const load = name ? SERVICE_MODULES[name] : undefined;
    if (!name || !load) {
      console.error(
        `usage: tradingsystem run <service>; services: ${Object.keys(SERVICE_MODULES).join(', ') || '(none yet)'}`,
      );
      return 2;
    }
    await runService(await load(), loadConfig);
    return -1; // keeps running until a signal
  },
};

async function dataCapture<T>(
  config: Config,
  method: 'GET' | 'POST' | 'DELETE',
  route: string,
  body?: object,
): Promise<T> {
  const { host, port } = config.services['data-capture'];
  const res = await fetch(`http://${host}:${port}${route}`, {
    method,
    headers: { ...internalHeaders(config.home), ...(body && { 'content-type': 'application/json' }) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(5_000),
  }).catch(() => {
    throw new Error(`data-capture is not answering on ${host}:${port}`);
  });
  const json = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new Error(json.error?.message ?? `data-capture answered ${res.status}`);
  return json;
}

/** `10s`, `500ms`, `2m` or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`bad duration '${text}': use e.g. 500ms, 10s, 2m`);
  const n = Number(m[1]);
  return Math.round(m[2] === 's' ? n * 1_000 : m[2] === 'm' ? n * 60_000 : n);
}

/** `start --detach`: the supervisor in the background, back once its start sequence has finished. */
async function startDetached(config: Config, only: string[]): Promise<number> {
  try {
    const { state, allUp } = await startInBackground(config.home, only);
    console.log(`supervisor running in the background (pid ${state.pid}); 'tradingsystem stop' stops it`);
    console.log(renderTable(state.processes));
    return allUp ? 0 : 1;
  } catch (err) {
    if (err instanceof AlreadyRunningError) {
      console.log(err.message);
      return 1;
    }
    console.error((err as Error).message);
    return 1;
  }
}

const WRITES_OUTSIDE_HOME = new Set(['release', 'releases', 'deploy', 'rollback', 'service']);

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    process.exitCode = command ? 0 : 2;
    return;
  }
  const handler = commands[command];
  if (!handler) {
    process.stderr.write(`unknown command '${command}'\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  // What we write in the data home is its owner's alone: files 0600, folders 0700 (SQLite, DuckDB
  // and the logger included). Commands that install code or units elsewhere keep the usual modes.
  if (!WRITES_OUTSIDE_HOME.has(command)) process.umask(0o077);
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  try {
    const code = await handler(args, config);
    if (code >= 0) process.exit(code);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : err instanceof NotRunningError ? 3 : 1);
  }
}

void main(process.argv.slice(2));
