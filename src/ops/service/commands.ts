import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../../kernel/config.js';
import { serviceManager, serviceOs, systemdRunning } from '../../kernel/platform.js';
import { DeployError } from '../deploy/release.js';
import { withUsage } from '../maintenance/args.js';
import { control, isAlive, readState } from '../supervisor/control.js';
import { runSupervisor } from '../supervisor/run.js';
import type { ProcessStatus } from '../supervisor/supervisor.js';
import { UsageError } from '../usage.js';
import { layoutFromConfig, type ServiceLayout, templateLayout } from './layout.js';
import { SystemdNotifier } from './notify.js';
import { systemdUnit } from './systemd.js';
import { winswXml } from './winsw.js';

const USAGE =
  'service install [--no-enable] [--no-start] | uninstall | status [--json] | unit [--windows] [--template] | run';

/**
 * `service install|uninstall|status|unit|run`: the supervisor as an OS service that starts at boot
 * and is restarted when it fails: a systemd unit on Linux, a WinSW service on Windows. `run` is
 * what the service manager starts (the supervisor, plus systemd's readiness and watchdog).
 */
export async function serviceCommand(args: string[], config: Config): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        'no-enable': { type: 'boolean' },
        'no-start': { type: 'boolean' },
        json: { type: 'boolean' },
        windows: { type: 'boolean' },
        template: { type: 'boolean' },
      },
    });
    const [action, extra] = positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
    switch (action) {
      case 'unit': {
        const os = values.windows ? 'windows' : serviceOs();
        const layout = values.template ? templateLayout(os, config) : layoutFromConfig(config, os);
        process.stdout.write(os === 'windows' ? winswXml(layout) : systemdUnit(layout));
        return 0;
      }
      case 'install':
        return install(config, { enable: !values['no-enable'], start: !values['no-start'] });
      case 'uninstall':
        return uninstall(config);
      case 'status':
        return status(config, Boolean(values.json));
      case 'run':
        return runAsService(config);
      default:
        throw new UsageError(action ? `unknown service action '${action}'` : 'service needs an action');
    }
  });
}

function manager(): 'systemd' | 'winsw' {
  const m = serviceManager();
  if (!m)
    throw new DeployError(
      `no service manager supported on ${process.platform} (systemd on Linux, WinSW on Windows)`,
    );
  return m;
}

async function install(config: Config, opts: { enable: boolean; start: boolean }): Promise<number> {
  const layout = layoutFromConfig(config);
  const supervisor = readState(config.home);
  const runningByHand = supervisor !== null && isAlive(supervisor.pid);
  const { enable, start } = opts;
  if (manager() === 'systemd') {
    const file = unitFile(config, layout);
    writeOrExplain(file, systemdUnit(layout));
    console.log(`wrote ${file} (runs ${layout.script})`);
    if (!enable) {
      console.log(
        `not enabled (--no-enable): 'systemctl enable --now ${layout.name}' starts it now and at boot`,
      );
      return 0;
    }
    if (!systemdRunning()) {
      console.error(
        'systemd is not running on this machine: the unit is written but not enabled (--no-enable only writes it)',
      );
      return 1;
    }
    await run('systemctl', ['daemon-reload']);
    await run('systemctl', ['enable', layout.name]);
    console.log(`enabled ${layout.name}: it starts at boot`);
    if (!start) return 0;
    if (runningByHand && !(await systemdActive(layout.name))) {
      console.error(
        `a supervisor started by hand runs (pid ${supervisor?.pid}): 'tradingsystem stop' it, then 'systemctl start ${layout.name}'`,
      );
      return 1;
    }
    await run('systemctl', ['restart', layout.name]);
    console.log(`started ${layout.name} ('systemctl status ${layout.name}', 'journalctl -u ${layout.name}')`);
    return 0;
  }
  // WinSW: <name>.exe and <name>.xml side by side in the working directory.
  const { exe, xmlFile } = winswFiles(layout);
  writeOrExplain(xmlFile, winswXml(layout));
  console.log(`wrote ${xmlFile} (runs ${layout.script})`);
  if (!enable) {
    console.log(`not registered (--no-enable): '${exe} install' registers it`);
    return 0;
  }
  if (!existsSync(exe)) {
    console.error(
      `WinSW is not there: download WinSW-x64.exe (github.com/winsw/winsw releases), save it as ${exe}, and run this again`,
    );
    return 1;
  }
  await run(exe, ['install']).catch((err: Error) => {
    if (!/already/i.test(err.message)) throw err;
  });
  console.log(`installed the Windows service ${layout.name} (automatic start)`);
  if (!start) return 0;
  if (runningByHand) {
    console.error(
      `a supervisor started by hand runs (pid ${supervisor?.pid}): 'tradingsystem stop' it, then 'Start-Service ${layout.name}'`,
    );
    return 1;
  }
  await run(exe, ['start']);
  console.log(`started ${layout.name}`);
  return 0;
}

async function uninstall(config: Config): Promise<number> {
  const layout = layoutFromConfig(config);
  if (manager() === 'systemd') {
    const file = unitFile(config, layout);
    if (systemdRunning()) await run('systemctl', ['disable', '--now', layout.name]).catch(() => {});
    const existed = existsSync(file);
    rmSync(file, { force: true });
    if (systemdRunning()) await run('systemctl', ['daemon-reload']);
    console.log(existed ? `stopped, disabled and removed ${file}` : `no unit at ${file}; nothing to remove`);
    return 0;
  }
  const { exe, xmlFile } = winswFiles(layout);
  if (!existsSync(exe)) throw new DeployError(`${exe} is missing: WinSW is needed to remove the service`);
  await run(exe, ['stop']).catch(() => {});
  await run(exe, ['uninstall']);
  console.log(`removed the Windows service ${layout.name} (${xmlFile} kept)`);
  return 0;
}

interface ServiceStatus {
  manager: 'systemd' | 'winsw';
  name: string;
  definition: string;
  installed: boolean;
  active: boolean | null;
  details: Record<string, string>;
  supervisor: { pid: number; processes: number; up: number } | null;
}

async function status(config: Config, json: boolean): Promise<number> {
  const layout = layoutFromConfig(config);
  const m = manager();
  const out: ServiceStatus = {
    manager: m,
    name: layout.name,
    definition: m === 'systemd' ? unitFile(config, layout) : winswFiles(layout).xmlFile,
    installed: false,
    active: null,
    details: {},
    supervisor: null,
  };
  out.installed = existsSync(out.definition);
  if (m === 'systemd' && systemdRunning()) {
    const text = await run('systemctl', [
      'show',
      layout.name,
      '-p',
      'LoadState,ActiveState,SubState,UnitFileState,MainPID,NRestarts,WatchdogUSec,ExecMainStartTimestamp',
    ]).catch(() => '');
    for (const line of text.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) out.details[line.slice(0, i)] = line.slice(i + 1);
    }
    out.active = out.details.ActiveState === 'active';
  } else if (m === 'winsw' && existsSync(winswFiles(layout).exe)) {
    out.details.status = (
      await run(winswFiles(layout).exe, ['status']).catch((e: Error) => e.message)
    ).trim();
    out.active = /started|active/i.test(out.details.status);
  }
  const sup = await control<{ pid: number; processes: ProcessStatus[] }>(config.home, 'GET', '/status').catch(
    () => null,
  );
  if (sup) {
    const up = sup.processes.filter((p) => p.state === 'healthy' || p.state === 'degraded').length;
    out.supervisor = { pid: sup.pid, processes: sup.processes.length, up };
  }
  if (json) console.log(JSON.stringify(out, null, 2));
  else {
    console.log(
      `${m} service ${layout.name}: ${out.installed ? `installed (${out.definition})` : `not installed (${out.definition})`}`,
    );
    if (m === 'systemd' && !systemdRunning()) console.log('systemd is not running on this machine');
    for (const [k, v] of Object.entries(out.details)) console.log(`  ${k}: ${v}`);
    console.log(
      out.supervisor
        ? `supervisor pid ${out.supervisor.pid}: ${out.supervisor.up}/${out.supervisor.processes} processes up`
        : 'no supervisor running',
    );
  }
  return out.installed && out.active !== false ? 0 : 3;
}

/**
 * What the service manager runs: the supervisor in the foreground, printing plain lines (the
 * journal or WinSW's log keeps them). Under systemd it also says READY=1 once the start sequence
 * is over, and pings the watchdog at a third of `service.watchdogSec` while the event loop turns.
 */
async function runAsService(config: Config): Promise<number> {
  const say = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} service: ${line}`);
  const notifier = serviceManager() === 'systemd' ? new SystemdNotifier(say) : null;
  const supervisor = runSupervisor({ config, display: 'lines' });
  if (!notifier) return supervisor;

  let done = false;
  const finished = supervisor.finally(() => {
    done = true;
  });
  let summary = 'starting the services';
  const refresh = async () => {
    const st = await control<{ ready: boolean; processes: ProcessStatus[] }>(
      config.home,
      'GET',
      '/status',
      undefined,
      2_000,
    ).catch(() => null);
    if (st) {
      const up = st.processes.filter((p) => p.state === 'healthy' || p.state === 'degraded').length;
      summary = `${up}/${st.processes.length} processes up`;
    }
    return st;
  };
  const watchdogMs = config.service.watchdogSec * 1000;
  const pinger =
    watchdogMs > 0
      ? setInterval(() => void notifier.watchdog(summary), Math.max(1_000, watchdogMs / 3))
      : null;
  const onTerm = () => void notifier.stopping();
  process.once('SIGTERM', onTerm);
  // READY once the start sequence is over (every service up, or given its health timeout).
  const readyBy = Date.now() + layoutFromConfig(config).startTimeoutSec * 1000 - 30_000;
  while (!done) {
    const st = await refresh();
    if (st?.ready || Date.now() > readyBy) {
      await notifier.ready(summary);
      say(`ready: ${summary}`);
      break;
    }
    await Promise.race([finished, sleep(500)]);
  }
  const code = await finished;
  if (pinger) clearInterval(pinger);
  process.off('SIGTERM', onTerm);
  return code;
}

function unitFile(config: Config, layout: ServiceLayout): string {
  return path.join(config.service.unitDir, `${layout.name}.service`);
}

function winswFiles(layout: ServiceLayout): { exe: string; xmlFile: string } {
  return {
    exe: path.join(layout.workingDir, `${layout.name}.exe`),
    xmlFile: path.join(layout.workingDir, `${layout.name}.xml`),
  };
}

function writeOrExplain(file: string, text: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'EACCES' || code === 'EPERM' ? ' (run it as root/administrator, or set service.unitDir)' : '';
    throw new DeployError(`cannot write ${file}: ${(err as Error).message}${hint}`);
  }
}

async function systemdActive(name: string): Promise<boolean> {
  return (await run('systemctl', ['is-active', name]).catch(() => '')).trim() === 'active';
}

function run(program: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err)
        reject(new DeployError(`${program} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
