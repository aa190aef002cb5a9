import { statSync } from 'node:fs';
import type { SegmentInfo, SegmentJournal } from '../../adapters/storage/segment-journal.js';
import type { CapturedEvent } from '../../domain/market-data.js';
import type { Clock, Timer } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import type { HealthCheckResult } from '../../kernel/service.js';
import type { DamagedParquet } from './market-store.js';
import type { CaptureMetrics } from './metrics.js';

/** The part of the Parquet store the converter needs. */
export interface SegmentSink {
  writeSegment(segmentId: string, events: AsyncIterable<CapturedEvent[]>): Promise<unknown>;
  dropTailThrough(seq: number): void;
}

const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/**
 * Turns sealed journal segments into Parquet, oldest first, one at a time. A failed conversion is
 * retried with backoff and shows on /health; the journal segment is never deleted before its
 * Parquet is written and it is older than the keep time.
 */
export class ParquetConverter {
  private running: Promise<void> | null = null;
  /** Segments whose Parquet was found damaged, to convert again from the journal. */
  private readonly redo: { damage: DamagedParquet; segment: SegmentInfo }[] = [];
  /** Damaged Parquet whose segment the journal no longer holds: only a backup brings it back. */
  private readonly unrecoverable: DamagedParquet[] = [];
  private retryTimer: Timer | null = null;
  private retryMs = RETRY_FIRST_MS;
  lastError: string | null = null;
  failures = 0;
  /** Why conversion is paused (the disk is critically full), or null while it runs. */
  private pausedBy: string | null = null;

  constructor(
    private readonly journal: SegmentJournal,
    private readonly sink: SegmentSink,
    public convertedThrough: number,
    private readonly logger: Logger,
    private readonly metrics: CaptureMetrics,
    private readonly onConverted: (seq: number) => void,
    private readonly clock: Clock,
  ) {}

  /** A damaged Parquet file was set aside: its segment is converted again if the journal has it. */
  damaged(damage: DamagedParquet): void {
    const segment = this.journal.sealedSegments().find((s) => segmentId(s) === damage.segmentId);
    if (!segment) {
      this.unrecoverable.push(damage);
      this.logger.error(
        { event: 'capture.parquet_damaged', ...damage, recoverable: false },
        'damaged Parquet file set aside; its segment is no longer in the journal: restore it from a backup',
      );
      return;
    }
    this.logger.error(
      { event: 'capture.parquet_damaged', ...damage, recoverable: true },
      'damaged Parquet file set aside; converting its segment again from the journal',
    );
    this.redo.push({ damage, segment });
    void this.kick();
  }

  pending(): SegmentInfo[] {
    return this.journal.sealedSegments().filter((s) => s.lastSeq > this.convertedThrough);
  }

  /**
   * Stops converting after the segment in hand: the journal keeps every trade meanwhile (sealed
   * segments are never pruned before they are in Parquet); `resume` converts the backlog.
   */
  pause(reason: string): void {
    const was = this.pausedBy;
    this.pausedBy = reason;
    if (was) return;
    this.logger.warn(
      { event: 'capture.parquet_paused', reason, pendingSegments: this.pending().length },
      'Parquet conversion paused; the journal keeps every trade',
    );
  }

  resume(): void {
    if (!this.pausedBy) return;
    this.pausedBy = null;
    this.logger.info(
      { event: 'capture.parquet_resumed', pendingSegments: this.pending().length },
      'Parquet conversion resumed',
    );
    void this.kick();
  }

  get paused(): string | null {
    return this.pausedBy;
  }

  /** Converts whatever is pending, unless a run is already going or conversion is paused. */
  kick(): Promise<void> {
    if (this.pausedBy) return this.running ?? Promise.resolve();
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Converts everything sealed so far (graceful stop); false if some segment still failed. */
  async drain(): Promise<boolean> {
    this.clock.cancel(this.retryTimer);
    this.retryTimer = null;
    await this.running;
    await this.kick();
    return this.pending().length === 0;
  }

  stop(): void {
    this.clock.cancel(this.retryTimer);
    this.retryTimer = null;
  }

  /** Deletes journal segments that are in Parquet and older than `keepMs`. */
  prune(now: number, keepMs: number): number {
    let removed = 0;
    for (const seg of this.journal.sealedSegments()) {
      if (seg.lastSeq > this.convertedThrough) break;
      if (now - statSync(seg.file).mtimeMs < keepMs) continue;
      this.journal.remove(seg);
      removed += 1;
    }
    return removed;
  }

  health(): HealthCheckResult {
    const pending = this.pending().length;
    if (this.pausedBy) {
      return {
        status: 'degraded',
        detail: `Parquet conversion paused (${this.pausedBy}); the journal keeps every trade, conversion resumes once there is room`,
        paused: true,
        pendingSegments: pending,
        convertedThrough: this.convertedThrough,
      };
    }
    if (this.unrecoverable.length) {
      return {
        status: 'degraded',
        detail: `${this.unrecoverable.length} damaged Parquet file(s) set aside whose segment is no longer in the journal: restore them from a backup`,
        damaged: this.unrecoverable.map((d) => ({ file: d.file, keptAs: d.keptAs, reason: d.reason })),
        pendingSegments: pending,
      };
    }
    if (this.redo.length) {
      return {
        status: 'degraded',
        detail: `rebuilding ${this.redo.length} damaged Parquet file(s) from the journal`,
        pendingSegments: pending,
      };
    }
    if (this.lastError) {
      return {
        status: 'degraded',
        detail: `Parquet conversion failing: ${this.lastError}`,
        pendingSegments: pending,
        failures: this.failures,
      };
    }
    return { status: 'ok', pendingSegments: pending, convertedThrough: this.convertedThrough };
  }

  private async run(): Promise<void> {
    for (let next = this.redo[0]; next; next = this.redo[0]) {
      if (this.pausedBy) return;
      try {
        await this.sink.writeSegment(segmentId(next.segment), this.journal.segmentSlices(next.segment));
      } catch (err) {
        this.failed(next.segment, err as Error);
        return;
      }
      this.redo.shift();
      this.logger.info(
        { event: 'capture.parquet_repaired', file: next.damage.file },
        'damaged Parquet file rebuilt from the journal',
      );
    }
    for (;;) {
      if (this.pausedBy) return;
      const [seg] = this.pending();
      this.metrics.pendingSegments.set(this.pending().length);
      if (!seg) return;
      try {
        // Slice by slice: a whole segment in the heap was data-capture's ~90 MB sawtooth.
        await this.sink.writeSegment(segmentId(seg), this.journal.segmentSlices(seg));
      } catch (err) {
        this.failed(seg, err as Error);
        return;
      }
      this.convertedThrough = seg.lastSeq;
      this.sink.dropTailThrough(seg.lastSeq);
      this.metrics.conversions.inc({ result: 'ok' });
      if (this.lastError)
        this.logger.info({ event: 'capture.parquet_recovered' }, 'Parquet conversion works again');
      this.lastError = null;
      this.retryMs = RETRY_FIRST_MS;
      this.onConverted(seg.lastSeq);
    }
  }

  /** A conversion failed: counted, shown on /health, retried with backoff; the journal keeps the segment. */
  private failed(seg: SegmentInfo, err: Error): void {
    this.failures += 1;
    this.lastError = err.message;
    this.metrics.conversions.inc({ result: 'failed' });
    this.logger.error(
      { event: 'capture.parquet_failed', segment: seg.file, err: this.lastError, retryInMs: this.retryMs },
      'Parquet conversion failed; the journal segment is kept and retried',
    );
    this.retryTimer = this.clock.after(this.retryMs, () => void this.kick()).unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}

export const segmentId = (seg: SegmentInfo): string => String(seg.firstSeq).padStart(16, '0');
