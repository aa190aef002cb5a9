import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../../kernel/config.js';
import { UsageError, withUsage } from '../maintenance/args.js';
import { layoutFromConfig, type ServiceLayout } from '../service/layout.js';
import { backupUnits } from '../service/systemd.js';
import { drDrill } from './drill.js';
import { type BackupEntry, listBackups } from './manifest.js';
import { RestoreRefused, restoreBackup } from './restore.js';
import { pruneBackups } from './retention.js';
import { BackupRefused, type BackupResult, type Progress, takeBackup } from './take.js';
import { verifyBackup } from './verify.js';

const BACKUP_USAGE =
  'backup now [--no-verify] | list [--json] | verify <name> | install-schedule [--dir DIR] [--windows]';

/** `tradingsystem backup …` */
export function backupCommand(args: string[], config: Config): Promise<number> {
  return withUsage(BACKUP_USAGE, () => backup(args, config));
}

async function backup(args: string[], config: Config): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case 'now': {
      const { values } = parse(rest, { 'no-verify': { type: 'boolean' } });
      let result: BackupResult;
      try {
        result = await takeBackup(config, { progress: terminalProgress('backup') });
      } catch (err) {
        if (!(err instanceof BackupRefused)) throw err;
        console.error(err.message);
        return 1;
      }
      console.log(
        `backup ${result.name}: ${result.manifest.files.length} files, ${mb(bytesOf(result.manifest.files))} in ${seconds(result.ms)}`,
      );
      let ok = true;
      if (!values['no-verify']) {
        const v = await verifyBackup(result.dir, terminalProgress('verify'));
        ok = v.ok;
        console.log(v.ok ? `verified in ${seconds(v.ms)}` : `VERIFY FAILED: ${describeProblems(v.problems)}`);
      }
      const removed = pruneBackups(config.home, config.backup.retentionDays, Date.now(), config.timezone);
      if (removed.length)
        console.log(`removed backups older than ${config.backup.retentionDays} days: ${removed.join(', ')}`);
      return ok ? 0 : 1;
    }
    case 'list': {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      const all = listBackups(config.home);
      if (values.json) {
        console.log(JSON.stringify(all.map(summary), null, 2));
        return 0;
      }
      if (all.length === 0) console.log(`no backups in ${path.join(config.home, 'backups')}`);
      for (const b of all) {
        const s = summary(b);
        console.log(
          `${s.name.padEnd(13)} ${s.status.padEnd(10)} ${String(s.files).padStart(6)} files ${mb(s.bytes).padStart(10)}  ${s.finishedAt}`,
        );
      }
      return 0;
    }
    case 'verify': {
      const { positionals } = parse(rest, {}, true);
      const name = positionals[0];
      if (!name) throw new UsageError("backup verify needs the backup's name");
      const backup = findBackup(config, name);
      const v = await verifyBackup(backup.dir, terminalProgress('verify'));
      console.log(
        v.ok
          ? `${name}: verified, ${backup.manifest.files.length} files whole (${seconds(v.ms)})`
          : `${name}: BAD: ${describeProblems(v.problems)}`,
      );
      return v.ok ? 0 : 1;
    }
    case 'install-schedule': {
      const { values } = parse(rest, { dir: { type: 'string' }, windows: { type: 'boolean' } });
      return installSchedule(config, values.dir, values.windows === true);
    }
    default:
      throw new UsageError(action ? `unknown backup action '${action}'` : 'backup needs an action');
  }
}

const RESTORE_USAGE = 'restore --date YYYY-MM-DD[-N] [--dry-run]';

/** `tradingsystem restore --date …` */
export function restoreCommand(args: string[], config: Config): Promise<number> {
  return withUsage(RESTORE_USAGE, () => restore(args, config));
}

async function restore(args: string[], config: Config): Promise<number> {
  const { values } = parse(args, { date: { type: 'string' }, 'dry-run': { type: 'boolean' } });
  if (!values.date) throw new UsageError('restore needs --date');
  if (!/^\d{4}-\d{2}-\d{2}(-\d+)?$/.test(values.date)) {
    throw new UsageError(`--date must be a backup's name, YYYY-MM-DD or YYYY-MM-DD-N (got '${values.date}')`);
  }
  try {
    const result = await restoreBackup(config, values.date, {
      dryRun: values['dry-run'] === true,
      progress: terminalProgress('restore'),
      onStep: (s) => console.log(`${s.step.padEnd(11)} ${seconds(s.ms).padStart(8)}  ${s.detail}`),
    });
    const total = result.steps.reduce((n, s) => n + s.ms, 0);
    console.log(`${values['dry-run'] ? 'dry run' : 'restored'} ${result.backup.name} in ${seconds(total)}`);
    if (result.asideDir) console.log(`the data it replaced is kept in ${result.asideDir}`);
    return 0;
  } catch (err) {
    if (err instanceof RestoreRefused) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
}

/** `tradingsystem dr-drill [--keep] [--json]` */
export function drDrillCommand(args: string[], config: Config): Promise<number> {
  return withUsage('dr-drill [--keep] [--json]', () => drill(args, config));
}

async function drill(args: string[], config: Config): Promise<number> {
  const { values } = parse(args, { keep: { type: 'boolean' }, json: { type: 'boolean' } });
  const report = await drDrill(config, {
    keep: values.keep === true,
    log: values.json ? undefined : (line) => console.log(line),
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(
      `dr-drill ${report.ok ? 'OK' : 'FAILED'}: RTO ${seconds(report.rtoMs)} (restore to healthy), RPO ${seconds(report.rpoMs)} (age of the restored data), backup ${seconds(report.backupMs)}`,
    );
    if (values.keep) console.log(`scratch data home kept: ${report.scratchHome}`);
  }
  return report.ok ? 0 : 1;
}

function findBackup(config: Config, name: string): BackupEntry {
  const backup = listBackups(config.home).find((b) => b.name === name);
  if (!backup) throw new UsageError(`no backup ${name} (see \`tradingsystem backup list\`)`);
  return backup;
}

function summary(b: BackupEntry) {
  return {
    name: b.name,
    status: b.status,
    files: b.manifest.files.length,
    bytes: b.bytes,
    startedAt: b.manifest.startedAt,
    finishedAt: b.manifest.finishedAt,
    verifiedAt: b.verification?.at ?? null,
    problems: b.verification?.problems ?? [],
  };
}

/**
 * The OS timer for machines where the supervisor is not always up: a systemd service and timer
 * (`Persistent=true`: a run missed while the machine was off is made up at boot), or a Windows
 * Task Scheduler definition (`StartWhenAvailable`: the same). Written to `dir`.
 */
function installSchedule(config: Config, dir: string | undefined, windows: boolean): number {
  // The node, script and environment the supervisor's own OS service would run with.
  const layout = layoutFromConfig(config);
  if (windows) {
    const target = dir ?? path.join(config.home, 'schedule');
    mkdirSync(target, { recursive: true });
    const file = path.join(target, 'TradingSystem-Backup.xml');
    // UTF-16 with its byte-order mark, as schtasks /XML expects.
    writeFileSync(file, `\ufeff${windowsTask(layout, config.backup.dailyAt)}`, 'utf16le');
    console.log(
      `wrote ${file}; register it with: schtasks /Create /TN "TradingSystem Backup" /XML "${file}"`,
    );
    return 0;
  }
  const target = dir ?? '/etc/systemd/system';
  mkdirSync(target, { recursive: true });
  const units = backupUnits(layout, config.backup.dailyAt, config.timezone);
  const service = path.join(target, 'tradingsystem-backup.service');
  const timer = path.join(target, 'tradingsystem-backup.timer');
  writeFileSync(service, units.service);
  writeFileSync(timer, units.timer);
  console.log(`wrote ${service} and ${timer}`);
  if (!dir)
    console.log(
      'enable it with: systemctl daemon-reload && systemctl enable --now tradingsystem-backup.timer',
    );
  return 0;
}

function windowsTask(l: ServiceLayout, at: string): string {
  const xml = (v: string) =>
    v.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
  // Task Scheduler passes no environment: the command sets it, then runs the backup.
  const command = [
    `set "TRADINGSYSTEM_HOME=${l.home}"`,
    ...(l.configFile ? [`set "TRADINGSYSTEM_CONFIG=${l.configFile}"`] : []),
    `cd /d "${l.workingDir}"`,
    `"${l.node}" "${l.script}" backup now`,
  ].join(' && ');
  return `<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>TradingSystem daily backup</Description></RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-01-01T${at}:00</StartBoundary>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Settings>
    <StartWhenAvailable>true</StartWhenAvailable>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <ExecutionTimeLimit>PT2H</ExecutionTimeLimit>
  </Settings>
  <Actions>
    <Exec>
      <Command>cmd.exe</Command>
      <Arguments>/c ${xml(command)}</Arguments>
    </Exec>
  </Actions>
</Task>
`;
}

/** parseArgs, strict: an unknown flag or a missing value is refused (exit 2 through withUsage). */
function parse<T extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(
  args: string[],
  options: T,
  positionals = false,
) {
  return parseArgs({ args, options, allowPositionals: positionals, strict: true as const });
}

/**
 * Progress on a terminal: one line redrawn (files, MB, ETA), started over by each `planned` (a
 * restore's verify, then its copy); elsewhere nothing until the end
 * (the command prints its result), so logs and pipes get plain lines.
 */
function terminalProgress(what: string): Progress {
  if (!process.stdout.isTTY) return { planned() {}, done() {} };
  let files = 0;
  let bytes = 0;
  let doneFiles = 0;
  let doneBytes = 0;
  let started = 0;
  let drawn = 0;
  return {
    planned(f, b) {
      files = f;
      bytes = b;
      doneFiles = 0;
      doneBytes = 0;
      started = Date.now();
    },
    done(_file, b) {
      doneFiles += 1;
      doneBytes += b;
      const now = Date.now();
      if (now - drawn < 200 && doneFiles < files) return;
      drawn = now;
      const rate = doneBytes / Math.max(1, now - started);
      const eta = rate > 0 ? (bytes - doneBytes) / rate : 0;
      process.stdout.write(
        `\r${what}: ${doneFiles}/${files} files, ${mb(doneBytes)} of ${mb(bytes)}, ETA ${seconds(eta)}   ${doneFiles >= files ? '\n' : ''}`,
      );
    },
  };
}

function describeProblems(problems: { file: string; reason: string }[]): string {
  return problems.map((p) => `${p.file}: ${p.reason}`).join('; ');
}

const bytesOf = (files: { bytes: number }[]) => files.reduce((n, f) => n + f.bytes, 0);
const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
