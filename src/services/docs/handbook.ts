import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../kernel/logger.js';
import { type HandbookState, loadHandbook } from './load.js';

export interface HandbookOptions {
  logger: Logger;
  /** Quiet time after the last file event before the index is rebuilt. */
  debounceMs?: number;
  /** How often to look for the folder while it does not exist. */
  pollMs?: number;
  onLoad?: (state: HandbookState) => void;
}

/**
 * The live handbook: loads the folder, then watches it and rebuilds the whole index after changes
 * settle (the pages are few). Survives the folder being missing, removed or recreated.
 */
export class Handbook {
  private state: HandbookState | undefined;
  private watcher: FSWatcher | undefined;
  private watchedIno: number | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly debounceMs: number;
  private readonly pollMs: number;

  readonly dir: string;

  constructor(
    dir: string,
    private readonly opts: HandbookOptions,
  ) {
    this.dir = path.resolve(dir);
    this.debounceMs = opts.debounceMs ?? 200;
    this.pollMs = opts.pollMs ?? 2_000;
  }

  /** The latest snapshot; requests read it once and use it throughout. */
  current(): HandbookState {
    if (!this.state) throw new Error('handbook not started');
    return this.state;
  }

  async start(): Promise<void> {
    await this.reload();
  }

  /** Rebuilds the index now; reloads run one at a time, in order. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.load());
    return this.reloading;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    clearInterval(this.poll);
    this.poll = undefined;
    this.unwatch();
    await this.reloading;
  }

  private async load(): Promise<void> {
    if (this.closed) return;
    const { logger } = this.opts;
    try {
      const state = await loadHandbook(this.dir);
      this.state = state;
      this.opts.onLoad?.(state);
      const counts = { documents: state.docs.size, invalid: state.invalid.length };
      if (state.problem) logger.warn({ event: 'docs.folder_missing', dir: state.dir }, state.problem);
      else logger.info({ event: 'docs.loaded', dir: state.dir, ...counts }, 'handbook loaded');
      if (state.invalid.length > 0) {
        logger.warn({ event: 'docs.invalid_pages', files: state.invalid }, 'handbook pages are invalid');
      }
    } catch (err) {
      // loadHandbook does not throw; this is the last guard so a reload never crashes the service.
      logger.error({ err, event: 'docs.reload_failed' }, 'handbook reload failed');
    }
    await this.arm(this.state?.problem === undefined);
  }

  /** Watches the folder while it exists, polls for it while it does not (or cannot be watched). */
  private async arm(exists: boolean): Promise<void> {
    if (exists) {
      try {
        await this.watchFolder();
        clearInterval(this.poll);
        this.poll = undefined;
        return;
      } catch (err) {
        this.opts.logger.warn({ err, event: 'docs.watch_failed' }, 'cannot watch the handbook folder');
      }
    }
    this.unwatch();
    if (!this.closed) this.poll ??= setInterval(() => void this.checkFolder(), this.pollMs).unref();
  }

  private async watchFolder(): Promise<void> {
    // A folder removed and recreated is a new inode; the old watcher would see nothing.
    const { ino } = await stat(this.dir);
    if (this.closed || (this.watcher && ino === this.watchedIno)) return;
    this.unwatch();
    const watcher = watch(this.dir, { recursive: true }, () => this.schedule());
    watcher.on('error', (err) => {
      this.opts.logger.warn({ err, event: 'docs.watch_failed' }, 'handbook watcher failed');
      this.unwatch();
      this.schedule();
    });
    this.watcher = watcher;
    this.watchedIno = ino;
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), this.debounceMs);
  }

  private async checkFolder(): Promise<void> {
    const exists = await stat(this.dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (exists) this.schedule();
  }

  private unwatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.watchedIno = undefined;
  }
}
