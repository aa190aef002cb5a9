import type { FeedHistory, FeedRecord } from './protocol.js';

/**
 * A FeedHistory held in an array, seqs assigned on append from 1. For tests, benchmarks and
 * producers whose whole history fits in memory; a real producer reads its journal instead.
 */
export class MemoryFeedHistory<T> implements FeedHistory<T> {
  private readonly records: FeedRecord<T>[] = [];

  /** Appends `data` as the next seq and returns the record to publish. */
  append(data: T): FeedRecord<T> {
    const record = { seq: this.lastSeq() + 1, data };
    this.records.push(record);
    return record;
  }

  read(afterSeq: number, max: number): FeedRecord<T>[] {
    const start = Math.max(0, afterSeq); // seq s sits at index s − 1
    return this.records.slice(start, start + max);
  }

  lastSeq(): number {
    return this.records.length;
  }
}
