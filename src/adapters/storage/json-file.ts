import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { fsyncPath } from '../../kernel/fs.js';
import { UnusableFileError } from './unusable-file.js';

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
    fsyncPath(dir);
  }
}
