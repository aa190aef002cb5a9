import type { CapturedEvent, CapturedTrade } from '../../domain/market-data.js';
import { FeedClient } from '../../kernel/feed/index.js';
import type { Logger } from '../../kernel/logger.js';

/**
 * Last trade price per symbol from data-capture's live feed (live only: a restart starts with no
 * prices and learns them from the next trades). Unreachable data-capture just means no prices.
 */
export class MarketPrices {
  private readonly last = new Map<string, number>();
  private readonly client: FeedClient<CapturedEvent>;
  /** Set by the strategy runner: each trade after its price is recorded, with the batch's delivery time. */
  onTrade?: (trade: CapturedTrade, deliveredAt: bigint) => void;

  constructor(url: string, logger: Logger, headers: Record<string, string> = {}) {
    this.client = new FeedClient<CapturedEvent>({
      url,
      logger,
      headers,
      backoffMaxMs: 5_000,
      onRecords: (records) => {
        const deliveredAt = process.hrtime.bigint();
        for (const { data } of records) {
          if (data.kind !== 'trade') continue;
          this.last.set(data.ticker, data.price);
          this.onTrade?.(data, deliveredAt);
        }
      },
    });
  }

  start(): void {
    this.client.start();
  }

  stop(): Promise<void> {
    return this.client.stop();
  }

  get connected(): boolean {
    return this.client.currentState === 'open';
  }

  get lastError(): string | undefined {
    return this.client.lastError;
  }

  readonly lastPrice = (symbol: string): number | undefined => this.last.get(symbol);
}
