import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../../test/helpers/cli.js';
import type { Profile, ScenarioResult } from './scenario.js';
import { secs } from './util.js';

export interface RunReport {
  date: string;
  profile: Profile;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  host: { node: string; cpus: number; platform: string; memoryGb: number };
  commit: string | null;
  /** Scenario results; a later run of the same scenario on the same date replaces the earlier one. */
  scenarios: ScenarioResult[];
}

function commit(): string | null {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT })
      .toString()
      .trim();
    return dirty ? `${sha}+uncommitted-src` : sha;
  } catch {
    return null;
  }
}

export function newReport(profile: Profile, startedAt: number, scenarios: ScenarioResult[]): RunReport {
  return {
    date: new Date(startedAt).toISOString().slice(0, 10),
    profile,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: Date.now() - startedAt,
    host: {
      node: process.version,
      cpus: os.cpus().length,
      platform: `${os.platform()} ${os.release()}`,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
    },
    commit: commit(),
    scenarios,
  };
}

/** The commit each scenario ran, kept with it when a later run of other scenarios merges into the file. */
function stampCommit(report: RunReport): RunReport {
  return { ...report, scenarios: report.scenarios.map((s) => ({ commit: report.commit, ...s })) };
}

/** Writes `<dir>/<date>.json`, keeping scenarios of earlier runs that day that this run did not repeat. */
export function writeReport(dir: string, report: RunReport): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${report.date}.json`);
  let kept: ScenarioResult[] = [];
  if (existsSync(file)) {
    try {
      const old = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
      kept = stampCommit(old).scenarios.filter((s) => !report.scenarios.some((n) => n.name === s.name));
    } catch {
      kept = [];
    }
  }
  const run = stampCommit(report);
  writeFileSync(file, `${JSON.stringify({ ...run, scenarios: [...kept, ...run.scenarios] }, null, 2)}\n`);
  return file;
}

/** The table printed at the end of a run, one line per scenario. */
export function summary(report: RunReport): string {
  const lines = [
    `\nchaos ${report.profile} profile: ${report.scenarios.length} scenario(s) in ${secs(report.durationMs)}`,
    `${'scenario'.padEnd(26)} ${'findings'.padEnd(9)} ${'result'.padEnd(6)} ${'time'.padStart(8)}  checks`,
  ];
  for (const s of report.scenarios) {
    const failed = s.checks.filter((c) => !c.pass);
    lines.push(
      `${s.name.padEnd(26)} ${(s.findings.join(',') || '-').padEnd(9)} ${s.status.toUpperCase().padEnd(6)} ${secs(s.durationMs).padStart(8)}  ${s.checks.length - failed.length}/${s.checks.length}` +
        (failed.length ? `  failed: ${failed.map((c) => c.name).join(' | ')}` : '') +
        (s.error ? `  error: ${s.error.split('\n')[0]}` : ''),
    );
  }
  return lines.join('\n');
}
