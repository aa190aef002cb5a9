import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A small file system of its own (tmpfs) for disk-fault tests: filled to the last byte, remounted
 * read-only, then given back. Mounting needs root, which the CI machine is; a test that cannot
 * mount fails with that reason rather than skipping.
 */
export class SmallDisk {
  private constructor(readonly dir: string) {}

  static mount(sizeMb = 64, prefix = 'ts-disk-'): SmallDisk {
    return SmallDisk.mountAt(mkdtempSync(path.join(os.tmpdir(), prefix)), sizeMb);
  }

  /** Over an existing (or new) folder, e.g. one part of a data home. */
  static mountAt(dir: string, sizeMb = 64): SmallDisk {
    if (process.getuid?.() !== 0) throw new Error('disk-fault tests mount a tmpfs and need root');
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'tmpfs', dir]);
    return new SmallDisk(dir);
  }

  private get filler(): string {
    return path.join(this.dir, '.filler');
  }

  /** Takes every free byte: from now on writes fail with ENOSPC. */
  fill(): void {
    const fd = openSync(this.filler, 'a');
    const block = Buffer.alloc(1 << 20);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
    // The last partial block: whatever is left, byte by byte in small writes.
    const small = openSync(this.filler, 'a');
    try {
      for (;;) writeSync(small, block, 0, 512);
    } catch {
      // full
    } finally {
      closeSync(small);
    }
  }

  /** Gives the space back. */
  free(): void {
    rmSync(this.filler, { force: true });
  }

  /** The whole file system read-only; refused (EBUSY) while a process has a file open for writing. */
  readOnly(): void {
    execFileSync('mount', ['-o', 'remount,ro', this.dir]);
  }

  writable(): void {
    execFileSync('mount', ['-o', 'remount,rw', this.dir]);
  }

  /**
   * A folder turned read-only under the processes using it (a read-only bind mount over itself:
   * open files too, unlike a remount, which refuses while a file is open for writing).
   */
  static readOnlyBind(dir: string): void {
    if (process.getuid?.() !== 0) throw new Error('disk-fault tests mount and need root');
    execFileSync('mount', ['--bind', dir, dir]);
    execFileSync('mount', ['-o', 'remount,bind,ro', dir]);
  }

  /** Undoes `readOnlyBind`. */
  static undoBind(dir: string): void {
    execFileSync('umount', ['-l', dir]);
  }

  /** One folder made immutable (chattr +i): no file can be created, renamed or removed in it (EPERM). */
  static freeze(dir: string): void {
    execFileSync('chattr', ['+i', dir]);
  }

  static thaw(dir: string): void {
    execFileSync('chattr', ['-i', dir]);
  }

  /** Unmounts (lazily, so a process still holding a file does not block it) and removes the folder. */
  unmount(): void {
    try {
      execFileSync('umount', ['-l', this.dir]);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** Unmounts and leaves the folder (and what was under the mount before) in place. */
  unmountOnly(): void {
    execFileSync('umount', ['-l', this.dir]);
  }
}
