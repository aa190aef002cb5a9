import type { SegmentJournal } from '../../adapters/storage/segment-journal.js';
import type { Bus } from '../../kernel/bus.js';
import type { Clock, Timer } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import type { Capture } from './capture.js';
import type { CaptureMetrics } from './metrics.js';
import type { DataCaptureTopics } from './topics.js';

const RETRY_EVERY_MS = 1_000;

/**
 * A journal that cannot be written (a full or read-only disk, a failed fdatasync) stops nothing
 * but itself: trades that arrive meanwhile go back among the missing, this retries every second,
 * and once the journal writes again (`journal.writable`) they are backfilled. /health says down
 * with the reason meanwhile (the journal check).
 */
export class JournalRetry {
  private timer: Timer | null = null;

  constructor(
    private readonly d: {
      journal: SegmentJournal;
      capture: Capture;
      bus: Bus<DataCaptureTopics>;
      clock: Clock;
      logger: Logger;
      metrics: CaptureMetrics;
    },
  ) {
    d.bus.on('journal.failed', (err) => this.failed(err));
    // A journal that failed while it was opened, before anyone listened.
    if (d.journal.failure) this.failed(d.journal.failure);
    else d.metrics.journalWritable.set(1);
  }

  stop(): void {
    this.d.clock.cancel(this.timer);
    this.timer = null;
  }

  private failed(err: Error): void {
    this.d.metrics.journalWritable.set(0);
    this.d.logger.error(
      { event: 'capture.journal_unwritable', err: err.message },
      'cannot write the market-data journal; retrying every second, missed trades will be backfilled',
    );
    this.timer ??= this.d.clock.every(RETRY_EVERY_MS, () => this.retry()).unref();
  }

  private retry(): void {
    if (!this.d.capture.retryJournal()) return;
    this.stop();
    this.d.metrics.journalWritable.set(1);
    this.d.logger.info({ event: 'capture.journal_writable' }, 'the journal writes again; backfilling');
    this.d.bus.publish('journal.writable', null);
  }
}
