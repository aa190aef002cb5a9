import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import path from 'node:path';
import { sleep } from './util.js';

const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).toString();

/** Mounting needs root: a scenario that needs it fails (never skips) without it. */
export function assertRoot(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    throw new Error('this scenario mounts file systems: run it as root');
}

/**
 * Real mounts for disk faults, undone in reverse order by `cleanup()` (called from a finally): a
 * loop-mounted ext4 file of a fixed size (a disk that fills up) and read-only bind mounts of a
 * folder over itself (new files there fail with EROFS; files already open stay writable, as a
 * folder turned read-only under a running process behaves).
 */
export class Mounts {
  private readonly stack: { target: string; image?: string }[] = [];

  /** An ext4 file system of `sizeMb` in `image`, mounted at `target` (no reserved blocks: root fills it too). */
  loopExt4(image: string, target: string, sizeMb: number): void {
    assertRoot();
    mkdirSync(target, { recursive: true });
    run('truncate', ['-s', `${sizeMb}M`, image]);
    run('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    run('mount', ['-o', 'loop', image, target]);
    this.stack.push({ target, image });
  }

  /** Makes `dir` read-only for new files until `writable(dir)`. */
  readOnly(dir: string): void {
    assertRoot();
    run('mount', ['--bind', dir, dir]);
    this.stack.push({ target: dir });
    run('mount', ['-o', 'remount,bind,ro', dir]);
  }

  /** Undoes the newest read-only bind of `dir`. */
  async writable(dir: string): Promise<void> {
    const i = this.stack.map((m) => m.target).lastIndexOf(dir);
    if (i < 0) return;
    const [m] = this.stack.splice(i, 1);
    if (m) await unmount(m.target);
  }

  async cleanup(): Promise<void> {
    for (const m of this.stack.splice(0).reverse()) {
      await unmount(m.target);
      if (m.image) rmSync(m.image, { force: true });
    }
  }
}

async function unmount(target: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    try {
      run('umount', [target]);
      return;
    } catch {
      await sleep(250); // busy: a process still has a file open there
    }
  }
  run('umount', ['-l', target]); // last resort: detach now, freed when the last file closes
}

export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * Fills the file system holding `dir` to the last byte with one file, and keeps it full
 * (`topUp`) while services free bits of space; `free()` removes it.
 */
export class Filler {
  readonly file: string;
  private bytes = 0;

  constructor(dir: string) {
    this.file = path.join(dir, 'chaos-disk-filler.bin');
  }

  fill(): number {
    const free = freeBytes(path.dirname(this.file));
    if (free > 1 << 20) run('fallocate', ['-l', String(free - (1 << 20)), this.file]);
    this.bytes = free - (1 << 20);
    return this.topUp();
  }

  /** Takes space until `freePercent` of the file system is left (a disk nearly full, not full). */
  fillTo(freePercent: number): number {
    const s = statfsSync(path.dirname(this.file));
    const keep = (Number(s.blocks) * Number(s.bsize) * freePercent) / 100;
    const take = Math.floor(Number(s.bavail) * Number(s.bsize) - keep);
    if (take > 0) run('fallocate', ['-l', String(take), this.file]);
    this.bytes = Math.max(0, take);
    return this.bytes;
  }

  /** Appends until the disk says ENOSPC, in ever smaller pieces; returns the bytes now held. */
  topUp(): number {
    const fd = openSync(this.file, 'a');
    try {
      for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
        const buf = Buffer.alloc(size, 0x5a);
        for (let i = 0; i < 10_000; i++) {
          try {
            writeSync(fd, buf);
            this.bytes += size;
          } catch {
            break; // ENOSPC at this size: try a smaller piece
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    return this.bytes;
  }

  free(): void {
    rmSync(this.file, { force: true });
    this.bytes = 0;
  }
}
