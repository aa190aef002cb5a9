import path from 'node:path';
import { DurableJsonFile } from '../../kernel/durable-file.js';

interface SubscriptionsFile {
  tickers: string[];
}

/** The tickers data-capture captures: from config at first, then as changed through the API, kept in the data home. */
export class SubscriptionList {
  private tickers: string[] = [];
  private readonly file: DurableJsonFile<SubscriptionsFile>;

  constructor(home: string) {
    this.file = new DurableJsonFile(path.join(home, 'data-capture', 'subscriptions.json'));
  }

  async load(defaults: string[]): Promise<string[]> {
    const saved = await this.file.read();
    this.tickers = saved ? [...saved.tickers] : [...defaults];
    return this.list();
  }

  /** Captures these without reading or writing the file (it cannot be used). */
  useOnly(tickers: string[]): void {
    this.tickers = [...tickers];
  }

  list(): string[] {
    return [...this.tickers];
  }

  has(ticker: string): boolean {
    return this.tickers.includes(ticker);
  }

  async add(ticker: string): Promise<void> {
    if (this.has(ticker)) return;
    await this.file.write({ tickers: [...this.tickers, ticker] });
    this.tickers.push(ticker);
  }

  async remove(ticker: string): Promise<void> {
    await this.file.write({ tickers: this.tickers.filter((t) => t !== ticker) });
    this.tickers = this.tickers.filter((t) => t !== ticker);
  }
}
