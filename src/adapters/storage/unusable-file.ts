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
