import type { CapturedEvent } from '../../domain/market-data.js';
import { FeedClient } from '../../kernel/feed/index.js';
import type { Logger } from '../../kernel/logger.js';

/**
 * Last trade price per symbol from data-capture's live feed (live only: a restart starts with no
 * prices and learns them from the next trades). Unreachable data-capture just means no prices.
 */
export class MarketPrices {
  private readonly last = new Map<string, number>();
  private readonly client: FeedClient<CapturedEvent>;

  constructor(url: string, logger: Logger) {
    this.client = new FeedClient<CapturedEvent>({
      url,
      logger,
      backoffMaxMs: 5_000,
      onRecords: (records) => {
        for (const { data } of records) if (data.kind === 'trade') this.last.set(data.ticker, data.price);
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
