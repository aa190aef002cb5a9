import { DurableJsonFile } from '../../adapters/storage/json-file.js';
import type { GapSnapshot } from '../../domain/gaps.js';

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

/** The checkpoint file; saves are coalesced so the newest state is written, never an older one last. */
export class CheckpointFile {
  private readonly file: DurableJsonFile<Checkpoint>;
  private next: Checkpoint | null = null;
  private writing: Promise<void> | null = null;

  constructor(path: string) {
    this.file = new DurableJsonFile<Checkpoint>(path);
  }

  /** The saved checkpoint, the empty one if there is none; throws if the file is unreadable. */
  async load(): Promise<Checkpoint> {
    return (await this.file.read()) ?? structuredClone(EMPTY_CHECKPOINT);
  }

  save(checkpoint: Checkpoint): void {
    this.next = checkpoint;
    this.writing ??= this.drain();
  }

  /** Resolves once everything saved so far is on disk. */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.next) {
        const cp = this.next;
        this.next = null;
        await this.file.write(cp);
      }
    } finally {
      this.writing = null;
    }
  }
}
