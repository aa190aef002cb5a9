import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** One file in a backup: its place (relative to the backup folder), size and SHA-256. */
export interface BackupFile {
  path: string;
  bytes: number;
  sha256: string;
}

/** `manifest.json` of a backup: written last, so a folder without it is not a backup. */
export interface Manifest {
  format: 1;
  /** The product version that took it. */
  version: string;
  host: string;
  /** The data home it was taken from. */
  home: string;
  startedAt: string;
  finishedAt: string;
  parquetDays: number;
  logDays: number;
  files: BackupFile[];
}

/** `verification.json` beside the manifest: the outcome of the last `backup verify`. */
export interface Verification {
  at: string;
  ok: boolean;
  /** What is wrong, file by file (empty when ok). */
  problems: { file: string; reason: string }[];
  ms: number;
}

export type BackupStatus = 'verified' | 'unverified' | 'bad';

export interface BackupEntry {
  /** The folder name: `YYYY-MM-DD` or `YYYY-MM-DD-N`. */
  name: string;
  dir: string;
  manifest: Manifest;
  status: BackupStatus;
  bytes: number;
  verification: Verification | null;
}

export const BACKUP_NAME = /^\d{4}-\d{2}-\d{2}(-\d+)?$/;
export const MANIFEST = 'manifest.json';
export const VERIFICATION = 'verification.json';
/** Inside a backup, the data home's files live under this folder; the config file under `config/`. */
export const DATA_PREFIX = 'data';
export const CONFIG_PREFIX = 'config';

export const backupsDir = (home: string) => path.join(home, 'backups');

/**
 * The backups of a data home, oldest first. Only finished ones: a folder still being written (a
 * `.partial-*` name) or one without a readable manifest is not a backup and is not listed.
 */
export function listBackups(home: string): BackupEntry[] {
  const dir = backupsDir(home);
  if (!existsSync(dir)) return [];
  const out: BackupEntry[] = [];
  for (const name of readdirSync(dir).filter((n) => BACKUP_NAME.test(n))) {
    const folder = path.join(dir, name);
    const manifest = readJson<Manifest>(path.join(folder, MANIFEST));
    if (!manifest || !Array.isArray(manifest.files)) continue;
    const verification = readJson<Verification>(path.join(folder, VERIFICATION));
    out.push({
      name,
      dir: folder,
      manifest,
      verification,
      status: verification === null ? 'unverified' : verification.ok ? 'verified' : 'bad',
      bytes: manifest.files.reduce((n, f) => n + f.bytes, 0),
    });
  }
  return out.sort((a, b) => compareNames(a.name, b.name));
}

/** The newest backup a verify found whole, or null: what "the last good backup" means. */
export function lastGoodBackup(home: string): BackupEntry | null {
  return (
    listBackups(home)
      .filter((b) => b.status === 'verified')
      .at(-1) ?? null
  );
}

/** `2026-03-10` < `2026-03-10-2` < `2026-03-10-10` < `2026-03-11`. */
export function compareNames(a: string, b: string): number {
  const [da, na] = [a.slice(0, 10), Number(a.slice(11) || 1)];
  const [db, nb] = [b.slice(0, 10), Number(b.slice(11) || 1)];
  return da === db ? na - nb : da < db ? -1 : 1;
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
