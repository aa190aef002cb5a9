import type { BrokerEvent } from '../../../domain/execution.js';
import type { Trade } from '../../../domain/market-data.js';
import type { Logger } from '../../../kernel/logger.js';
import type { MarketDataClient, MarketDataHandlers } from '../../../ports/broker.js';
import { ACTIVATION_VALID, check, codeName, MARKET, stateName } from './codes.js';
import type { ExchangeClock } from './dates.js';
import type { ProfitDllMetrics } from './metrics.js';
import type { ProfitDllSession } from './session.js';

const DAY_MS = 86_400_000;
/** WIN and WDO history must be asked for less than 10 days at a time (ABI notes §5.9): a day each. */
const MINI_CONTRACT = /^(WIN|WDO)/;

export interface ProfitDllMarketDataOptions {
  exchangeClock: ExchangeClock;
  historyTimeoutMs: number;
  logger: Logger | null;
  metrics: ProfitDllMetrics | null;
}

/**
 * A history request ends when both its last packet and progress 100 have come (progress alone for
 * a range with no trade). Waiting for both keeps a request's trailing progress from ending the next
 * one; a last packet whose progress never comes ends it after PROGRESS_GRACE_MS.
 */
interface HistoryRequest {
  ticker: string;
  trades: Trade[];
  lastPacket: boolean;
  progressDone: boolean;
  finish: (err?: Error) => void;
  /** Starts the wait for progress 100 after the last packet. */
  awaitProgress: () => void;
}
const PROGRESS_GRACE_MS = 2_000;

/**
 * Market data from ProfitDLL: the DLL's states as our broker events (ready only on market connected
 * and a valid activation, whatever their order), SubscribeTicker per ticker again after every
 * reconnect (the DLL may forget), V2 trades, top of book, and GetHistoryTrades for backfill.
 */
export class ProfitDllMarketData implements MarketDataClient {
  readonly name = 'profitdll';
  private handlers: MarketDataHandlers | null = null;
  private readonly tradeTickers = new Set<string>();
  private readonly quoteTickers = new Set<string>();
  /** Tickers SubscribeTicker was called for since the market data last connected. */
  private readonly subscribed = new Set<string>();
  private readonly books = new Map<string, { bid?: [number, number]; ask?: [number, number] }>();
  private history: HistoryRequest | null = null;
  private historyQueue: Promise<unknown> = Promise.resolve();
  private ready = false;

  constructor(
    private readonly session: ProfitDllSession,
    private readonly opts: ProfitDllMarketDataOptions,
  ) {
    session.listen({
      state: (type, value) => this.onState(type, value),
      trade: (trade, edit) => this.onTrade(trade, edit),
      history: (trade, last) => this.onHistory(trade, last),
      progress: (ticker, progress) => {
        const h = this.history;
        if (!h || h.ticker !== ticker || progress < 100) return;
        h.progressDone = true;
        if (h.lastPacket || h.trades.length === 0) h.finish();
      },
      book: (ticker, exchange, side, price, quantity) => this.onBook(ticker, exchange, side, price, quantity),
    });
  }

  connect(): Promise<void> {
    return this.session.initialize('market');
  }

  async disconnect(): Promise<void> {
    this.lost();
    await this.session.finalize();
  }

  listenMarketData(handlers: MarketDataHandlers): void {
    this.handlers = handlers;
  }

  async subscribeTrades(symbol: string, exchange: string): Promise<void> {
    this.tradeTickers.add(symbol);
    await this.subscribeAtDll(symbol, exchange);
  }

  async unsubscribeTrades(symbol: string, exchange: string): Promise<void> {
    this.tradeTickers.delete(symbol);
    await this.unsubscribeAtDll(symbol, exchange);
  }

  async subscribeQuotes(symbol: string, exchange: string): Promise<void> {
    this.quoteTickers.add(symbol);
    await this.subscribeAtDll(symbol, exchange);
  }

  async unsubscribeQuotes(symbol: string, exchange: string): Promise<void> {
    this.quoteTickers.delete(symbol);
    this.books.delete(symbol);
    await this.unsubscribeAtDll(symbol, exchange);
  }

  /**
   * GetHistoryTrades, one request at a time (the DLL tells no request id), a day at a time for WIN
   * and WDO. The answer is cut to [fromTs, toTs] here too: the manual's own examples pass whole
   * seconds, so the DLL may round the range.
   */
  requestTradeHistory(symbol: string, exchange: string, fromTs: number, toTs: number): Promise<Trade[]> {
    const run = async () => {
      const step = MINI_CONTRACT.test(symbol) ? DAY_MS : 30 * DAY_MS;
      const byId = new Map<number, Trade>();
      for (let from = fromTs; from <= toTs; from += step) {
        const to = Math.min(toTs, from + step - 1);
        for (const t of await this.historyChunk(symbol, exchange, from, to))
          if (t.ts >= fromTs && t.ts <= toTs) byId.set(t.tradeId, t);
      }
      return [...byId.values()].sort((a, b) => a.tradeId - b.tradeId);
    };
    const result = this.historyQueue.then(run, run);
    this.historyQueue = result.catch(() => {});
    return result;
  }

  private historyChunk(ticker: string, exchange: string, fromTs: number, toTs: number): Promise<Trade[]> {
    const { exchangeClock, historyTimeoutMs } = this.opts;
    return new Promise<Trade[]>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const request: HistoryRequest = {
        ticker,
        trades: [],
        lastPacket: false,
        progressDone: false,
        awaitProgress: () => {
          grace = setTimeout(() => request.finish(), PROGRESS_GRACE_MS);
        },
        finish: (err) => {
          clearTimeout(timer);
          clearTimeout(grace);
          if (this.history === request) this.history = null;
          if (err) reject(err);
          else resolve(request.trades);
        },
      };
      const timer = setTimeout(
        () =>
          request.finish(
            new Error(`ProfitDLL history of ${ticker}: no last packet within ${historyTimeoutMs} ms`),
          ),
        historyTimeoutMs,
      );
      // Set before the call: its first trades may arrive before the call returns.
      this.history = request;
      this.session
        .call<number>(
          'GetHistoryTrades',
          (dll) => dll.GetHistoryTrades,
          ticker,
          exchange,
          exchangeClock.format(fromTs),
          exchangeClock.format(toTs),
        )
        .then((rc) => check('GetHistoryTrades', rc))
        .catch((err: Error) => request.finish(err));
    });
  }

  private async subscribeAtDll(ticker: string, exchange: string): Promise<void> {
    if (this.subscribed.has(ticker)) return;
    const rc = await this.session.call<number>(
      'SubscribeTicker',
      (dll) => dll.SubscribeTicker,
      ticker,
      exchange,
    );
    check('SubscribeTicker', rc);
    this.subscribed.add(ticker);
  }

  private async unsubscribeAtDll(ticker: string, exchange: string): Promise<void> {
    if (this.tradeTickers.has(ticker) || this.quoteTickers.has(ticker) || !this.subscribed.has(ticker))
      return;
    this.subscribed.delete(ticker);
    const rc = await this.session.call<number>(
      'UnsubscribeTicker',
      (dll) => dll.UnsubscribeTicker,
      ticker,
      exchange,
    );
    if (codeName(rc) !== 'NL_NOT_FOUND') check('UnsubscribeTicker', rc);
  }

  /** The DLL's news as ours (ABI notes §4); repeats of the same news are passed on once. */
  private onState(type: 'login' | 'routing' | 'market' | 'activation', value: number): void {
    const name = stateName(type, value);
    const latest = this.session.latest;
    switch (type) {
      case 'login':
        this.emit(value === 0 ? { type: 'login', ok: true } : { type: 'login', ok: false, reason: name });
        return;
      case 'activation':
        if (value !== ACTIVATION_VALID) {
          this.emit({ type: 'login', ok: false, reason: `${name}: the activation key was refused` });
        } else if (latest.market === MARKET.connected) {
          this.connected();
        }
        return;
      case 'routing':
        return; // the routing side's news (execution.ts)
      case 'market':
        switch (value) {
          case MARKET.connected:
            if (latest.activation === ACTIVATION_VALID) this.connected();
            return;
          case MARKET.disconnected:
            this.lost();
            this.emit({ type: 'market', state: 'disconnected' });
            return;
          case MARKET.notLogged:
            this.lost();
            this.emit({ type: 'market', state: 'not-logged' });
            return;
          case MARKET.performanceWarning:
            this.opts.logger?.warn(
              { event: 'profitdll.performance_warning' },
              'ProfitDLL reports a performance warning',
            );
            return;
          case MARKET.partial:
            // "The client is not consuming the callbacks": data may be lost until (2,4) comes back,
            // which resubscribes and has the gaps checked against history.
            this.opts.logger?.warn(
              { event: 'profitdll.partial_connected' },
              'ProfitDLL says we are not keeping up with its callbacks (MARKET_PARTIAL_CONNECTED)',
            );
            this.lost();
            this.emit({ type: 'market', state: 'connecting' });
            return;
          default:
            // Connecting again: whatever we had subscribed is asked for again once connected.
            this.lost();
            this.emit({ type: 'market', state: 'connecting' });
        }
    }
  }

  private connected(): void {
    if (this.ready) return;
    this.ready = true;
    this.emit({ type: 'market', state: 'connected' });
  }

  /** The DLL may have forgotten our subscriptions: each is asked for again on the next connect. */
  private lost(): void {
    this.ready = false;
    this.subscribed.clear();
    this.books.clear();
    this.history?.finish(new Error('ProfitDLL market data disconnected during a history request'));
  }

  private emit(event: BrokerEvent): void {
    this.handlers?.onEvent(event);
  }

  private onTrade(trade: Trade, edit: boolean): void {
    if (edit) {
      // A correction of a trade already printed: its number is known, so capture would drop it.
      this.opts.logger?.warn(
        { event: 'profitdll.trade_edit', ticker: trade.ticker, tradeId: trade.tradeId },
        'the exchange edited a trade; the captured one is kept',
      );
      return;
    }
    if (!this.tradeTickers.has(trade.ticker)) return;
    this.opts.metrics?.tradeLag.observe({ ticker: trade.ticker }, Math.max(0, Date.now() - trade.ts) / 1000);
    this.handlers?.onTrade(trade);
  }

  private onHistory(trade: Trade, last: boolean): void {
    const h = this.history;
    if (!h || h.ticker !== trade.ticker) return;
    h.trades.push(trade);
    if (!last) return;
    h.lastPacket = true;
    if (h.progressDone) h.finish();
    else h.awaitProgress();
  }

  private onBook(
    ticker: string,
    exchange: string,
    side: 'bid' | 'ask',
    price: number,
    quantity: number,
  ): void {
    if (!this.quoteTickers.has(ticker)) return;
    const book = this.books.get(ticker) ?? {};
    book[side] = [price, quantity];
    this.books.set(ticker, book);
    if (!book.bid || !book.ask) return;
    this.handlers?.onQuote({
      ticker,
      exchange,
      ts: Date.now(),
      bidPrice: book.bid[0],
      bidQty: book.bid[1],
      askPrice: book.ask[0],
      askQty: book.ask[1],
    });
  }
}
