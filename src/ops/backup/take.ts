import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { type Config, configFilePath } from '../../kernel/config.js';
import { diskState, formatBytes } from '../../kernel/disk.js';
import { fsyncFile } from '../../kernel/fs.js';
import { syncFolder } from '../../kernel/platform.js';
import { addDays, localDate } from '../../kernel/time.js';
import { copyHashed, hashFile } from './copy.js';
import {
  BACKUP_NAME,
  type BackupFile,
  backupsDir,
  CONFIG_PREFIX,
  DATA_PREFIX,
  MANIFEST,
  type Manifest,
} from './manifest.js';

/** Where a backup's progress goes: the plan's size first, then each file as it is done. */
export interface Progress {
  planned(files: number, bytes: number): void;
  done(file: string, bytes: number): void;
}

export const NO_PROGRESS: Progress = { planned() {}, done() {} };

/** One thing to copy: from the data home (or the config file) to its place in the backup. */
interface Item {
  source: string;
  /** Its path inside the backup. */
  target: string;
  /** A live SQLite file: copied with SQLite's online backup, never as raw bytes. */
  sqlite?: boolean;
}

/** The SQLite files of the data home: live, so only SQLite may copy them. */
const SQLITE = ['db/orders.sqlite', 'sim/venue.sqlite'];
/** Small files taken whole as they are (each is replaced atomically by its writer). */
const SMALL = [
  'db/orders.sqlite.id',
  'db/ideas.json',
  'gateway/keys.json',
  'gateway/token-secret',
  'data-capture/subscriptions.json',
  'stream/cursors.json',
];
const JOURNAL = 'journal/marketdata';

export interface BackupResult {
  name: string;
  dir: string;
  manifest: Manifest;
  ms: number;
}

/**
 * `backup now`, while everything runs: the SQLite files through SQLite's online backup, the small
 * files as one read each, the market-data checkpoint and the journal segments it does not cover yet,
 * Parquet and logs of the last days, and the config file. Written under `backups/.partial-<pid>-*`
 * and renamed to `backups/{date}[-N]/` only once `manifest.json` (every file, its size and SHA-256)
 * is in it, so a backup killed half-way is never listed.
 */
export async function takeBackup(
  config: Config,
  opts: { now?: () => number; progress?: Progress } = {},
): Promise<BackupResult> {
  const now = opts.now ?? Date.now;
  const progress = opts.progress ?? NO_PROGRESS;
  const started = now();
  const root = backupsDir(config.home);
  mkdirSync(root, { recursive: true });
  removeAbandoned(root);
  const items = plan(config, started);
  const plannedBytes = items.reduce((n, i) => n + sizeOf(i.source), 0);
  await refuseWithoutRoom(config, plannedBytes);
  const tmp = path.join(root, `.partial-${process.pid}-${started}`);
  mkdirSync(tmp);
  try {
    progress.planned(items.length, plannedBytes);
    const files: BackupFile[] = [];
    for (const item of items) {
      if (!existsSync(item.source)) continue; // gone meanwhile (a pruned segment, a rolled log)
      const dest = path.join(tmp, item.target);
      const copied = item.sqlite ? await copySqlite(item.source, dest) : copyHashed(item.source, dest);
      files.push({ path: item.target, ...copied });
      progress.done(item.target, copied.bytes);
    }
    const manifest: Manifest = {
      format: 1,
      version: productVersion(),
      host: os.hostname(),
      home: config.home,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(now()).toISOString(),
      parquetDays: config.backup.parquetDays,
      logDays: config.backup.logDays,
      files,
    };
    writeFileSync(path.join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    fsyncFile(path.join(tmp, MANIFEST));
    const name = freeName(root, localDate(config.timezone, started));
    const dir = path.join(root, name);
    renameSync(tmp, dir);
    syncFolder(root);
    return { name, dir, manifest, ms: now() - started };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** A backup that was not started, and why (the disk is too full for it). */
export class BackupRefused extends Error {}

/**
 * A backup never fills the disk the services write to: refused at the critical level, or when
 * its copy would take the free space below it.
 */
async function refuseWithoutRoom(config: Config, bytes: number): Promise<void> {
  const disk = await diskState(config.home, config, { fresh: true });
  if (disk.level === 'critical')
    throw new BackupRefused(`backup refused: the disk is critically full: ${disk.detail}`);
  if (disk.freeBytes === null || disk.totalBytes === null) return;
  const after = ((disk.freeBytes - bytes) / disk.totalBytes) * 100;
  if (after < config.disk.criticalFreePercent) {
    throw new BackupRefused(
      `backup refused: it needs ${formatBytes(bytes)} and would leave ${Math.max(0, Math.floor(after * 10) / 10)}% free, below the critical level of ${config.disk.criticalFreePercent}% (${disk.detail})`,
    );
  }
}

/** What goes into a backup taken at `at`, in the order it is copied. */
function plan(config: Config, at: number): Item[] {
  const home = config.home;
  const items: Item[] = [];
  const fromHome = (rel: string, sqlite = false): Item => ({
    source: path.join(home, rel),
    target: path.join(DATA_PREFIX, rel),
    ...(sqlite && { sqlite }),
  });
  // The checkpoint first: the segments it has not seen converted are the ones to take with it.
  const checkpoint = path.join(JOURNAL, 'checkpoint.json');
  items.push(fromHome(checkpoint));
  for (const seg of unconvertedSegments(home, convertedThrough(path.join(home, checkpoint)))) {
    items.push(fromHome(path.join(JOURNAL, seg)));
  }
  const parquetFrom = addDays(localDate(config.timezone, at), -(config.backup.parquetDays - 1));
  for (const file of filesUnder(home, 'parquet')) {
    const date = /date=(\d{4}-\d{2}-\d{2})/.exec(file)?.[1];
    if (date && date >= parquetFrom && file.endsWith('.parquet')) items.push(fromHome(file));
  }
  for (const rel of SQLITE) items.push(fromHome(rel, true));
  for (const rel of SMALL) items.push(fromHome(rel));
  const logsFrom = addDays(localDate(config.timezone, at), -(config.backup.logDays - 1));
  for (const file of filesUnder(home, 'logs')) {
    const date = /(\d{4}-\d{2}-\d{2})\.jsonl$/.exec(file)?.[1];
    if (date && date >= logsFrom) items.push(fromHome(file));
  }
  const configFile = configFilePath();
  if (existsSync(configFile)) {
    items.push({ source: configFile, target: path.join(CONFIG_PREFIX, path.basename(configFile)) });
  }
  return items.filter((i) => existsSync(i.source));
}

/** A consistent copy of a live SQLite database (its WAL included), then hashed. */
async function copySqlite(source: string, dest: string): Promise<{ bytes: number; sha256: string }> {
  mkdirSync(path.dirname(dest), { recursive: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    await db.backup(dest);
  } finally {
    db.close();
  }
  fsyncFile(dest);
  return hashFile(dest);
}

function convertedThrough(checkpointFile: string): number {
  try {
    const cp = JSON.parse(readFileSync(checkpointFile, 'utf8')) as { convertedThrough?: unknown };
    return typeof cp.convertedThrough === 'number' ? cp.convertedThrough : 0;
  } catch {
    return 0; // no checkpoint: every segment
  }
}

/** Segments holding seqs past `through` (a segment ends where the next one begins). */
function unconvertedSegments(home: string, through: number): string[] {
  const dir = path.join(home, JOURNAL);
  if (!existsSync(dir)) return [];
  const names = readdirSync(dir)
    .filter((f) => /^\d{16}\.seg$/.test(f))
    .sort();
  return names.filter((_name, i) => {
    const next = names[i + 1];
    return next === undefined || Number(next.slice(0, 16)) - 1 > through;
  });
}

/** Every file under `home/sub`, as paths relative to home. */
function filesUnder(home: string, sub: string): string[] {
  const dir = path.join(home, sub);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(home, path.join(e.parentPath, e.name)));
}

/** `2026-03-10`, then `2026-03-10-2`, `-3`… when one of that day exists already. */
function freeName(root: string, date: string): string {
  const taken = new Set(readdirSync(root).filter((n) => BACKUP_NAME.test(n)));
  if (!taken.has(date)) return date;
  for (let n = 2; ; n++) if (!taken.has(`${date}-${n}`)) return `${date}-${n}`;
}

/** Folders of backups killed half-way (their process is gone): never listed, removed here. */
function removeAbandoned(root: string): void {
  for (const name of readdirSync(root)) {
    const pid = Number(/^\.partial-(\d+)-/.exec(name)?.[1]);
    if (pid && !alive(pid)) rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function productVersion(): string {
  try {
    const pkg = new URL('../../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
