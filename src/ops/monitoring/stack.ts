import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../../kernel/config.js';
import { EXECUTABLE_SUFFIXES } from '../../kernel/platform.js';
import { PROJECT_DIR } from '../deploy/release.js';
import { isAlive } from '../supervisor/control.js';
import { prometheusConfigFor, scrapeTargets, writeTargets } from './targets.js';

export type ComponentName = 'prometheus' | 'alertmanager';

/** One of the two programs as this config lays it out under the data home. */
export interface Component {
  name: ComponentName;
  /** Program names looked up on PATH, in order (Debian names Alertmanager prometheus-alertmanager). */
  programs: string[];
  dir: string;
  pidFile: string;
  logFile: string;
  host: string;
  port: number;
}

export const INSTALL_HINT =
  'install them: apt-get install prometheus prometheus-alertmanager (Debian/Ubuntu), ' +
  'or put the release archives from https://prometheus.io/download/ on PATH (prometheus, alertmanager)';

export function components(config: Config): Component[] {
  const root = path.join(config.home, 'monitoring');
  const { host, prometheusPort, alertmanagerPort } = config.monitoring;
  const at = (name: ComponentName, programs: string[], port: number): Component => ({
    name,
    programs,
    dir: path.join(root, name),
    pidFile: path.join(root, name, `${name}.pid`),
    logFile: path.join(root, name, `${name}.log`),
    host,
    port,
  });
  // Alertmanager first: Prometheus sends to it as soon as a rule fires.
  return [
    at('alertmanager', ['prometheus-alertmanager', 'alertmanager'], alertmanagerPort),
    at('prometheus', ['prometheus'], prometheusPort),
  ];
}

/** The first of `names` that is an executable file on PATH, or null. */
export function findProgram(names: string[], envPath = process.env.PATH ?? ''): string | null {
  for (const name of names)
    for (const dir of envPath.split(path.delimiter).filter(Boolean))
      for (const ext of EXECUTABLE_SUFFIXES) {
        const file = path.join(dir, name + ext);
        if (existsSync(file)) return file;
      }
  return null;
}

export const baseUrl = (c: Pick<Component, 'host' | 'port'>) =>
  `http://${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}`;

/** The pid in the pid file if that process still runs and is this program (not a reused pid). */
export function runningPid(c: Component): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(c.pidFile, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!c.programs.some((p) => cmdline.includes(p))) return null;
  } catch {
    // No /proc (Windows, macOS): the pid file is all there is to go by.
  }
  return pid;
}

/** GET /-/healthy: 'healthy', or why not. */
export async function health(c: Component): Promise<{ healthy: boolean; detail: string }> {
  try {
    const res = await fetch(`${baseUrl(c)}/-/healthy`, { signal: AbortSignal.timeout(2_000) });
    return res.ok
      ? { healthy: true, detail: 'healthy' }
      : { healthy: false, detail: `/-/healthy answered ${res.status}` };
  } catch (err) {
    return { healthy: false, detail: `not answering on ${c.host}:${c.port} (${(err as Error).message})` };
  }
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The command line of each program: the files from deploy/, data and logs under the data home. */
function argsOf(c: Component, config: Config, deployDir: string): string[] {
  const listen = `--web.listen-address=${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}`;
  if (c.name === 'alertmanager')
    return [
      `--config.file=${path.join(deployDir, 'alertmanager', 'alertmanager.yml')}`,
      `--storage.path=${path.join(c.dir, 'data')}`,
      listen,
      `--web.external-url=${baseUrl(c)}`,
      // Clustering off: it would listen on 0.0.0.0:9094.
      '--cluster.listen-address=',
    ];
  // The targets come from this config, so a non-default install is scraped where it listens.
  const targetsDir = path.join(c.dir, 'targets');
  writeTargets(targetsDir, scrapeTargets(config));
  const configFile = path.join(c.dir, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfigFor(path.join(deployDir, 'prometheus'), targetsDir));
  return [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(c.dir, 'data')}`,
    `--storage.tsdb.retention.time=${config.monitoring.retention}`,
    listen,
    `--web.external-url=${baseUrl(c)}`,
    '--web.enable-lifecycle',
  ];
}

export interface Started {
  component: Component;
  pid: number;
  already: boolean;
}

export class StartError extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the program detached (it outlives this command; `down` stops it by its pid file) and
 * waits until /-/healthy answers, or it exits, or `timeoutMs` passes.
 */
export async function startComponent(
  c: Component,
  program: string,
  config: Config,
  timeoutMs: number,
  deployDir = path.join(PROJECT_DIR, 'deploy'),
): Promise<Started> {
  const running = runningPid(c);
  if (running !== null) return { component: c, pid: running, already: true };
  if (!(await portFree(c.host, c.port)))
    throw new StartError(`${c.name}: ${c.host}:${c.port} is already in use (monitoring.${c.name}Port)`);
  mkdirSync(path.join(c.dir, 'data'), { recursive: true });
  const args = argsOf(c, config, deployDir);
  const log = openSync(c.logFile, 'a');
  const child = spawn(program, args, { cwd: c.dir, detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
  });
  child.once('error', (err) => {
    exited = err.message;
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new StartError(`${c.name}: could not start ${program}`);
  writeFileSync(c.pidFile, `${pid}\n`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) break;
    if ((await health(c)).healthy) return { component: c, pid, already: false };
    await sleep(200);
  }
  if (!exited) await stopPid(pid, 2_000);
  rmSync(c.pidFile, { force: true });
  throw new StartError(
    `${c.name} ${exited ?? `did not answer /-/healthy within ${timeoutMs} ms`}; the end of ${c.logFile}:\n${tail(c.logFile)}`,
  );
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGTERM, then SIGKILL after `timeoutMs`. True once the process is gone. */
export async function stopPid(pid: number, timeoutMs: number): Promise<boolean> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const gone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) return true;
      await sleep(100);
    }
    return !isAlive(pid);
  };
  if (await gone(timeoutMs)) return true;
  signal('SIGKILL');
  return gone(5_000);
}
