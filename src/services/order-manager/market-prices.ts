import type { CapturedEvent } from '../../domain/market-data.js';
import type { Bus } from '../../kernel/bus.js';
import { FeedClient } from '../../kernel/feed/index.js';
import type { Logger } from '../../kernel/logger.js';
import type { OrderManagerTopics } from './topics.js';

/**
 * Last trade price per symbol from data-capture's live feed (live only: a restart starts with no
 * prices and learns them from the next trades). Unreachable data-capture just means no prices.
 */
export class MarketPrices {
  private readonly last = new Map<string, number>();
  private readonly client: FeedClient<CapturedEvent>;
  /** Each trade is published as `market.trade` after its price is recorded (when anyone listens). */
  constructor(
    url: string,
    logger: Logger,
    private readonly bus: Bus<OrderManagerTopics>,
    headers: Record<string, string> = {},
  ) {
    this.client = new FeedClient<CapturedEvent>({
      url,
      logger,
      headers,
      backoffMaxMs: 5_000,
      onRecords: (records) => {
        const deliveredAt = process.hrtime.bigint();
        const heard = this.bus.has('market.trade');
        for (const { data } of records) {
          if (data.kind !== 'trade') continue;
          this.last.set(data.ticker, data.price);
          if (heard) this.bus.publish('market.trade', { trade: data, deliveredAt });
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
