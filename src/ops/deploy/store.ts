import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { POINTER, readPointer, removePointer, writePointer } from '../../kernel/platform.js';
import { isAlive } from '../supervisor/control.js';
import { DeployError, isReleaseId, MANIFEST, type ReleaseManifest, readManifest } from './release.js';

/** What this site knows of a release beyond its manifest. */
export interface ReleaseRecord {
  installedAt: string;
  /**
   * installed: never current yet; ok: passed its health checks; unverified: made current while
   * no supervisor ran; failed: failed its health checks (a rollback skips it).
   */
  status: 'installed' | 'ok' | 'unverified' | 'failed';
  detail?: string;
}

export interface HistoryEntry {
  at: string;
  action: 'deploy' | 'rollback' | 'auto-rollback';
  from: string | null;
  to: string | null;
  result: 'ok' | 'failed' | 'unverified';
  detail?: string;
}

interface DeployState {
  releases: Record<string, ReleaseRecord>;
  history: HistoryEntry[];
}

export interface InstalledRelease extends ReleaseRecord {
  version: string;
  dir: string;
  current: boolean;
  manifest: ReleaseManifest | null;
}

const STATE_FILE = 'deploy-state.json';
const LOCK_FILE = 'deploy.lock';
const LAUNCHER = 'tradingsystem.mjs';
const HISTORY_KEPT = 200;

/**
 * The releases folder (`deploy.dir`): one folder per installed release, the `current` pointer,
 * `deploy-state.json` (each release's status and the deploy history), `deploy.lock` while a
 * deploy or rollback runs, and `tradingsystem.mjs`, which runs the current release's CLI.
 */
export class ReleaseStore {
  constructor(readonly dir: string) {}

  releaseDir(version: string): string {
    return path.join(this.dir, version);
  }

  /** Releases live apart from data: a deploy never writes in the data home, nor the reverse. */
  assertApartFrom(home: string): void {
    const inside = (a: string, b: string) => {
      const rel = path.relative(b, a);
      return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
    };
    const dir = path.resolve(this.dir);
    const data = path.resolve(home);
    if (inside(dir, data) || inside(data, dir)) {
      throw new DeployError(
        `deploy.dir ${dir} and the data home ${data} overlap: releases must live outside the data home (set deploy.dir)`,
      );
    }
  }

  current(): string | null {
    return readPointer(this.dir);
  }

  /** The installed releases, oldest first. */
  list(): InstalledRelease[] {
    const state = this.readState();
    const current = this.current();
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: InstalledRelease[] = [];
    for (const name of names) {
      const dir = this.releaseDir(name);
      // Release folders only: not the `current` pointer (a link to one of them), nor staging folders.
      if (name === POINTER || !isReleaseId(name) || !isFolder(dir) || !existsSync(path.join(dir, MANIFEST)))
        continue;
      let manifest: ReleaseManifest | null = null;
      try {
        manifest = readManifest(dir);
      } catch {
        // listed all the same, without its details
      }
      const record = state.releases[name] ?? { installedAt: manifest?.builtAt ?? '', status: 'installed' };
      out.push({ version: name, dir, current: name === current, manifest, ...record });
    }
    return out.sort(
      (a, b) => a.installedAt.localeCompare(b.installedAt) || a.version.localeCompare(b.version),
    );
  }

  history(): HistoryEntry[] {
    return this.readState().history;
  }

  /**
   * Where `rollback` goes: the newest release installed before the current one that did not fail
   * its health checks (the newest such release at all when none is current).
   */
  previousGood(): InstalledRelease | null {
    const all = this.list();
    const at = all.findIndex((r) => r.current);
    const before = at >= 0 ? all.slice(0, at) : all;
    return before.filter((r) => r.status !== 'failed').at(-1) ?? null;
  }

  /** Moves a fully written folder into place as release `version`. */
  adopt(staged: string, version: string): void {
    renameSync(staged, this.releaseDir(version));
    this.update((s) => {
      s.releases[version] = { installedAt: new Date().toISOString(), status: 'installed' };
    });
  }

  /** A fresh folder inside the releases folder to build a release in (same disk: renamed in place). */
  stagingDir(): string {
    mkdirSync(this.dir, { recursive: true });
    const dir = path.join(this.dir, `.incoming-${process.pid}-${Date.now()}`);
    mkdirSync(dir);
    return dir;
  }

  /** Switches `current` (null: no release; services run from the supervisor's own install). */
  switchTo(version: string | null): void {
    if (version === null) removePointer(this.dir);
    else writePointer(this.dir, version);
    writeFileSync(path.join(this.dir, LAUNCHER), LAUNCHER_SOURCE);
  }

  setStatus(version: string, status: ReleaseRecord['status'], detail?: string): void {
    this.update((s) => {
      const r = s.releases[version] ?? { installedAt: new Date().toISOString(), status };
      s.releases[version] = { installedAt: r.installedAt, status, ...(detail ? { detail } : {}) };
    });
  }

  record(entry: Omit<HistoryEntry, 'at'>): void {
    this.update((s) => {
      s.history.push({ at: new Date().toISOString(), ...entry });
      if (s.history.length > HISTORY_KEPT) s.history.splice(0, s.history.length - HISTORY_KEPT);
    });
  }

  /**
   * Removes the oldest releases beyond `keep`, never the current one nor the one a rollback would
   * go to. Returns the versions removed.
   */
  prune(keep: number): string[] {
    const all = this.list();
    const protectedOnes = new Set([this.current(), this.previousGood()?.version].filter(Boolean));
    const removable = all.filter((r) => !protectedOnes.has(r.version));
    const excess = all.length - keep;
    const removed: string[] = [];
    for (const r of removable.slice(0, Math.max(0, excess))) {
      rmSync(r.dir, { recursive: true, force: true });
      removed.push(r.version);
    }
    if (removed.length) {
      this.update((s) => {
        for (const v of removed) delete s.releases[v];
      });
    }
    return removed;
  }

  /**
   * One deploy or rollback at a time. A lock left by a dead process (its pid gone) is taken over.
   * Returns the function that releases it.
   */
  lock(): () => void {
    mkdirSync(this.dir, { recursive: true });
    const file = path.join(this.dir, LOCK_FILE);
    const body = JSON.stringify({ pid: process.pid, host: os.hostname(), at: new Date().toISOString() });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(file, body, { flag: 'wx' });
        return () => rmSync(file, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = readLock(file);
        if (holder && isAlive(holder.pid)) {
          throw new DeployError(
            `another deploy or rollback is running (pid ${holder.pid} since ${holder.at}); ${file} is its lock`,
          );
        }
        rmSync(file, { force: true }); // its holder is gone
      }
    }
    throw new DeployError(`cannot take the deploy lock ${file}`);
  }

  /** Leftovers of a deploy killed half-way: staging folders nobody writes to any more. */
  removeStaleStaging(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = /^\.incoming-(\d+)-/.exec(name);
      if (m && !isAlive(Number(m[1]))) rmSync(path.join(this.dir, name), { recursive: true, force: true });
    }
  }

  private readState(): DeployState {
    try {
      const s = JSON.parse(readFileSync(path.join(this.dir, STATE_FILE), 'utf8')) as Partial<DeployState>;
      return { releases: s.releases ?? {}, history: s.history ?? [] };
    } catch {
      return { releases: {}, history: [] };
    }
  }

  private update(change: (s: DeployState) => void): void {
    const state = this.readState();
    change(state);
    mkdirSync(this.dir, { recursive: true });
    const file = path.join(this.dir, STATE_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, file);
  }
}

function isFolder(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readLock(file: string): { pid: number; at: string } | null {
  try {
    const l = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown; at?: unknown };
    return typeof l.pid === 'number' ? { pid: l.pid, at: String(l.at) } : null;
  } catch {
    return null;
  }
}

/**
 * The folder of the release `current` points at in a releases folder, or null when none is
 * installed. The supervisor asks at every start of a service, so a deploy's restarts pick it up.
 */
export function currentReleaseDir(dir: string): string | null {
  let version: string | null;
  try {
    version = readPointer(dir);
  } catch {
    return null;
  }
  if (!version) return null;
  const release = path.join(dir, version);
  try {
    return realpathSync(release);
  } catch {
    return release; // a pointer to a missing release: its start fails, visibly
  }
}

/** Where the launcher of a releases folder is (written by every deploy). */
export const launcherPath = (dir: string) => path.join(dir, LAUNCHER);

/**
 * `node <releases>/tradingsystem.mjs <command>` runs the CLI of the current release: what the OS
 * service and the Windows scripts start, so they follow deploys without being changed. It reads
 * the pointer the same way as `readPointer` (a symlink on Linux, a file on Windows).
 */
const LAUNCHER_SOURCE = `#!/usr/bin/env node
// Written by \`tradingsystem deploy\`: runs the CLI of the release that \`current\` points at.
import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pointer = path.join(here, 'current');
let release;
try {
  release = lstatSync(pointer).isFile()
    ? path.join(here, readFileSync(pointer, 'utf8').trim())
    : realpathSync(pointer);
} catch {
  console.error(\`no current release in \${here}: install one with 'tradingsystem deploy <release>'\`);
  process.exit(1);
}
await import(pathToFileURL(path.join(release, 'dist', 'cli.js')).href);
`;
