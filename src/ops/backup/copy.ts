import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';

const CHUNK = 1 << 20;

/** Copies a file, hashing what it copies; the copy is fsynced. Returns its size and SHA-256. */
export function copyHashed(src: string, dest: string): { bytes: number; sha256: string } {
  mkdirSync(path.dirname(dest), { recursive: true });
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  const from = openSync(src, 'r');
  let to = -1;
  let bytes = 0;
  try {
    to = openSync(dest, 'w', 0o600);
    for (let n = readSync(from, buf, 0, CHUNK, null); n > 0; n = readSync(from, buf, 0, CHUNK, null)) {
      hash.update(buf.subarray(0, n));
      for (let off = 0; off < n; ) off += writeSync(to, buf, off, n - off);
      bytes += n;
    }
    fsyncSync(to);
  } finally {
    closeSync(from);
    if (to >= 0) closeSync(to);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** A file's size and SHA-256. */
export function hashFile(file: string): { bytes: number; sha256: string } {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(file, 'r');
  let bytes = 0;
  try {
    for (let n = readSync(fd, buf, 0, CHUNK, null); n > 0; n = readSync(fd, buf, 0, CHUNK, null)) {
      hash.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { bytes, sha256: hash.digest('hex') };
}
