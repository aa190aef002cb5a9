import type { GapSnapshot } from '../../domain/gaps.js';
import type { Clock, Timer } from '../../kernel/clock.js';
import { DurableJsonFile } from '../../kernel/durable-file.js';

/**
 * What data-capture derives from its journal, saved so a restart replays only the journal's tail:
 * the trade-number cursors and gaps as of journal seq `seq`, and how far Parquet goes.
 */
export interface Checkpoint {
  seq: number;
  convertedThrough: number;
  tracker: GapSnapshot;
}

export const EMPTY_CHECKPOINT: Checkpoint = {
  seq: 0,
  convertedThrough: 0,
  tracker: { cursors: {}, gaps: [] },
};

const RETRY_MS = 1_000;

/**
 * The checkpoint file; saves are coalesced so the newest state is written, never an older one last.
 * A save that fails (a full or read-only disk) is kept and tried again every second until it is
 * written or a newer one replaces it; it never throws at the caller. The checkpoint is only a
 * shortcut (the journal holds the truth), so a late one costs a longer replay at the next start.
 */
export class CheckpointFile {
  private readonly file: DurableJsonFile<Checkpoint>;
  private next: Checkpoint | null = null;
  private writing: Promise<void> | null = null;
  private retry: Timer | null = null;
  /** Why the last save failed; null once one succeeds. */
  lastError: string | null = null;

  constructor(
    path: string,
    private readonly clock: Clock,
    private readonly onError: (err: Error) => void = () => {},
  ) {
    this.file = new DurableJsonFile<Checkpoint>(path);
  }

  get path(): string {
    return this.file.file;
  }

  /** The saved checkpoint, the empty one if there is none; throws if the file is unreadable. */
  async load(): Promise<Checkpoint> {
    return (await this.file.read()) ?? structuredClone(EMPTY_CHECKPOINT);
  }

  save(checkpoint: Checkpoint): void {
    this.next = checkpoint;
    this.writing ??= this.drain();
  }

  /** Resolves once every save so far was written, or failed (then it is retried). */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  stop(): void {
    this.clock.cancel(this.retry);
    this.retry = null;
  }

  private async drain(): Promise<void> {
    try {
      while (this.next) {
        const cp = this.next;
        this.next = null;
        try {
          await this.file.write(cp);
          this.lastError = null;
        } catch (err) {
          this.next ??= cp;
          if (this.lastError === null) this.onError(err as Error);
          this.lastError = (err as Error).message;
          this.retry ??= this.clock.after(RETRY_MS, () => {
            this.retry = null;
            if (this.next) this.writing ??= this.drain();
          });
          this.retry.unref();
          return;
        }
      }
    } finally {
      this.writing = null;
    }
  }
}
