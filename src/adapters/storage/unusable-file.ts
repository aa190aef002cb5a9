import { copyFileSync, existsSync } from 'node:fs';

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
