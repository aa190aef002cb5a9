import { copyFileSync, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { syncFolder } from './platform.js';

/**
 * A data file exists but cannot be used (unreadable, corrupt, inconsistent). It is never
 * overwritten or recreated: it stays as found, for an operator to inspect and restore.
 */
export class UnusableFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    message = `${file}: ${reason}`,
  ) {
    super(message);
    this.name = 'UnusableFileError';
  }
}

/**
 * The disk refuses a file for now (read-only, full, an I/O error): not damage, it may open later.
 * Still unusable until then, so it is reported the same way.
 */
export class DiskRefusedError extends UnusableFileError {
  constructor(file: string, reason: string) {
    super(file, `the disk refuses it for now (${reason})`);
    this.name = 'DiskRefusedError';
  }
}

const REFUSALS = new Set(['EROFS', 'ENOSPC', 'EACCES', 'EPERM', 'EIO', 'EDQUOT']);

/** A failure of the disk, not of the file's contents: SQLite's can't-open, read-only, full, I/O, or the OS's. */
export function isDiskRefusal(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  return REFUSALS.has(code) || /^SQLITE_(CANTOPEN|READONLY|FULL|IOERR)/.test(code);
}

/**
 * Copies a damaged file to `{file}.{label}-{time}` before anything may replace or cut it; returns
 * the copy's path, or null when there is no file or the copy cannot be written (a full disk).
 */
export function keepAside(file: string, label = 'damaged', now = Date.now()): string | null {
  if (!existsSync(file)) return null;
  const copy = `${file}.${label}-${now}`;
  try {
    copyFileSync(file, copy);
    return copy;
  } catch {
    return null;
  }
}

/**
 * A LowDB adapter that never leaves a broken file: a write goes to a temp file, is fsynced, renamed
 * over the old one, and the directory is fsynced, so a crash at any point leaves either the old or
 * the new content. A file that does not parse is reported, never overwritten.
 */
export class DurableJsonFile<T> implements Adapter<T> {
  private seq = 0;

  constructor(readonly file: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new UnusableFileError(this.file, (err as Error).message);
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new UnusableFileError(this.file, `not valid JSON (${(err as Error).message})`);
    }
  }

  async write(data: T): Promise<void> {
    const dir = path.dirname(this.file);
    await mkdir(dir, { recursive: true });
    this.seq += 1;
    const tmp = path.join(dir, `.${path.basename(this.file)}.${process.pid}.${this.seq}.tmp`);
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`);
      await handle.sync();
    } catch (err) {
      await handle.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await handle.close();
    await rename(tmp, this.file);
    syncFolder(dir);
  }
}
