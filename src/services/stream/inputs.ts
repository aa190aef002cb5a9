import path from 'node:path';
import { DurableJsonFile, keepAside } from '../../kernel/durable-file.js';
import { FeedClient, type FeedRecord } from '../../kernel/feed/index.js';
import type { Logger } from '../../kernel/logger.js';

export type InputName = 'market' | 'orders';

export interface InputOptions<T> {
  name: InputName;
  url: string;
  /** Seq to resume after (from the cursor file); undefined = live from the feed's tail. */
  from: number | undefined;
  onRecords(records: FeedRecord<T>[]): void;
  /** Each time the input (re)connects: state derived from the other side may have moved. */
  onOpen?(): void;
  logger: Logger;
  /** The internal credential's header. */
  headers?: Record<string, string>;
}

/**
 * One upstream feed read with the kernel FeedClient, which resumes from the last delivered seq on
 * every reconnect. A saved cursor the feed refuses (its data home was reset, so the seq is past its
 * end) is dropped for the live tail rather than retried forever.
 */
export class Input<T> {
  private client: FeedClient<T>;
  private resumedFrom: number | undefined;

  constructor(private readonly opts: InputOptions<T>) {
    this.resumedFrom = opts.from;
    this.client = this.create(opts.from);
  }

  get name(): InputName {
    return this.opts.name;
  }

  get connected(): boolean {
    return this.client.currentState === 'open';
  }

  get lastSeq(): number | undefined {
    return this.client.lastSeq;
  }

  /** Records the feed had that we have not delivered, as of its last hello. */
  get behind(): number {
    const server = this.client.serverLastSeq ?? 0;
    return Math.max(0, server - (this.client.lastSeq ?? server));
  }

  status() {
    return {
      url: this.opts.url,
      connected: this.connected,
      resumedFrom: this.resumedFrom ?? null,
      lastSeq: this.lastSeq ?? null,
      lastError: this.client.lastError ?? null,
      ...this.client.stats,
    };
  }

  start(): void {
    this.client.start();
  }

  stop(): Promise<void> {
    return this.client.stop();
  }

  private create(from: number | undefined): FeedClient<T> {
    const client: FeedClient<T> = new FeedClient<T>({
      url: this.opts.url,
      from,
      logger: this.opts.logger,
      ...(this.opts.headers && { headers: this.opts.headers }),
      onRecords: (records) => this.opts.onRecords(records),
      onState: (state) => {
        if (state === 'open') this.opts.onOpen?.();
        if (state === 'closed' && from !== undefined && client.stats.records === 0) {
          if (client.lastError?.includes(': 400')) this.restartLive(client);
        }
      },
    });
    return client;
  }

  private restartLive(refused: FeedClient<T>): void {
    this.opts.logger.warn(
      { event: 'stream.cursor_refused', input: this.opts.name, from: this.resumedFrom },
      'the feed refused the saved cursor; following it live from its tail',
    );
    this.resumedFrom = undefined;
    this.client = this.create(undefined);
    void refused.stop().then(() => this.client.start());
  }
}

export type Cursors = Partial<Record<InputName, number>>;

/**
 * Where the stream resumes its inputs after a restart, in `{home}/stream/cursors.json`. It is
 * saved every second and at shutdown, so a kill -9 replays at most about a second of input again;
 * replay is harmless (nobody is subscribed yet, and live bars are rebuilt from their first trade).
 */
export class CursorFile {
  private readonly file: DurableJsonFile<Cursors>;
  private saved = '';
  private writing: Promise<void> = Promise.resolve();

  constructor(home: string) {
    this.file = new DurableJsonFile<Cursors>(path.join(home, 'stream', 'cursors.json'));
  }

  /** The saved cursors; none when the file is missing or unusable (the inputs then start live). */
  async load(logger: Logger): Promise<Cursors> {
    try {
      const data = (await this.file.read()) ?? {};
      const valid = (v: unknown) =>
        Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined;
      const cursors: Cursors = { market: valid(data.market), orders: valid(data.orders) };
      this.saved = JSON.stringify(cursors);
      return cursors;
    } catch (err) {
      // Kept aside before the next save replaces it.
      const keptAs = keepAside(this.file.file);
      logger.error(
        { event: 'stream.cursors_unreadable', err: (err as Error).message, keptAs },
        'cursor file unusable; inputs start live',
      );
      return {};
    }
  }

  /** Writes when changed; one write at a time. */
  save(cursors: Cursors): Promise<void> {
    const text = JSON.stringify(cursors);
    if (text === this.saved) return this.writing;
    this.saved = text;
    this.writing = this.writing.then(() => this.file.write(cursors)).catch(() => {});
    return this.writing;
  }
}
