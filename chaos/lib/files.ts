import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
export const fileHash = (file: string) => sha256(readFileSync(file));

/**
 * Overwrites `length` bytes at `offset` (default: the middle) with garbage, in place, and returns
 * the file's whole content after the damage: a bit-rot or a torn write, not a truncation.
 */
export function garble(file: string, opts: { offset?: number; length?: number } = {}): Buffer {
  const size = statSync(file).size;
  if (size === 0) throw new Error(`${file} is empty: nothing to damage`);
  const length = Math.min(opts.length ?? 64, size);
  const offset = Math.max(
    0,
    Math.min(opts.offset ?? Math.floor(size / 2) - Math.floor(length / 2), size - length),
  );
  const junk = Buffer.alloc(length);
  for (let i = 0; i < length; i++) junk[i] = (0xa5 ^ (i * 31)) & 0xff;
  const fd = openSync(file, 'r+');
  try {
    const before = Buffer.alloc(length);
    readSync(fd, before, 0, length, offset);
    if (before.equals(junk)) junk.fill(0x5a);
    writeSync(fd, junk, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return readFileSync(file);
}

/** Every file under `dir` (recursively) whose content hashes to `hash`: where damaged bytes were kept. */
export function filesWithHash(dir: string, hash: string, maxFiles = 20_000): string[] {
  const out: string[] = [];
  let seen = 0;
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (++seen > maxFiles) return;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        try {
          if (fileHash(p) === hash) out.push(p);
        } catch {
          // unreadable: not a copy we can recognise
        }
      }
    }
  };
  walk(dir);
  return out;
}

/** Journal segments of data-capture that hold records, oldest first (a stop leaves an empty newest file). */
export function segments(home: string): string[] {
  const dir = path.join(home, 'journal', 'marketdata');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^\d{16}\.seg$/.test(f))
    .sort()
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).size > 0);
}

/** Trade Parquet files, biggest first. */
export function tradeParquetFiles(home: string): string[] {
  const root = path.join(home, 'parquet', 'trades');
  const out: string[] = [];
  if (!existsSync(root)) return out;
  for (const date of readdirSync(root))
    for (const ticker of readdirSync(path.join(root, date)))
      for (const f of readdirSync(path.join(root, date, ticker)))
        if (f.endsWith('.parquet')) out.push(path.join(root, date, ticker, f));
  return out.sort((a, b) => statSync(b).size - statSync(a).size);
}
