import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { syncFolder } from './platform.js';

/**
 * fsyncs a file (a folder: `syncFolder`, which differs on Windows). Opened for writing: Windows
 * flushes only a handle that may write (EPERM otherwise).
 */
export function fsyncFile(target: string): void {
  const fd = openSync(target, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a small file whole or not at all: a temp file, fsynced, renamed over, the folder fsynced. */
export function writeFileDurably(file: string, data: string, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data, { mode });
    fsyncFile(tmp);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncFolder(path.dirname(file));
}
