import type { SegmentInfo } from '../../adapters/storage/segment-journal.js';
import type { DamagedParquet } from './market-store.js';

/**
 * What happens inside data-capture, on its bus (`kernel/bus.ts`): the edges that point back up the
 * build order (the journal tells the converter a segment sealed, capture tells the backfiller the
 * gaps changed), so every part is built once, complete, in dependency order.
 */
export interface DataCaptureTopics {
  /** A journal segment was sealed: it can go to Parquet. */
  'segment.sealed': SegmentInfo;
  /** The journal stopped writing (a full or read-only disk, a failed fdatasync). */
  'journal.failed': Error;
  /** The journal writes again after a failure: what was missed meanwhile is backfilled. */
  'journal.writable': null;
  /** The gap list changed (a gap opened, was filled or given up). */
  'gaps.changed': null;
  /** The broker connection reached Active: the sessions we hold are checked against its history. */
  'broker.active': null;
  /** A damaged Parquet file was set aside. */
  'parquet.damaged': DamagedParquet;
}
