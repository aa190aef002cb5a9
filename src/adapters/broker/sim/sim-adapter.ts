import type {
  BrokerEvent,
  BrokerOpenOrder,
  BrokerOrderReport,
  BrokerOrderRequest,
  BrokerPosition,
} from '../../../domain/execution.js';
import type { Instrument } from '../../../domain/instruments.js';
import type { Trade } from '../../../domain/market-data.js';
import { type Clock, systemClock } from '../../../kernel/clock.js';
import type {
  ExecutionClient,
  ExecutionHandlers,
  MarketDataClient,
  MarketDataHandlers,
} from '../../../ports/broker.js';
import { type ActiveFault, type FaultKind, FaultSwitchboard } from './faults.js';
import { LiveFeed } from './live-feed.js';
import type { MatchingEngine } from './matching.js';
import { newOrderProblem, type OrderChange } from './order-rules.js';
import { Tape, type TapeOptions } from './tape.js';
import { Venue } from './venue.js';
import { VenueStore, VenueUnavailableError } from './venue-store.js';

export interface SimBrokerOptions extends TapeOptions {
  clock?: Clock;
  /** The one account this broker holds. */
  account?: string;
  /** Cadence of live delivery. */
  emitIntervalMs?: number;
  /**
   * Delay of order acknowledgements and changes. 0: a new order is decided as it arrives (its ack
   * comes with the commit that stores it); cancels and replaces are answered on the next turn.
   */
  latencyMs?: number;
  /**
   * SQLite file holding the venue's orders, fills and positions, so they outlive our process like
   * a real broker's; without it they live and die with this object.
   */
  venueFile?: string;
  /** With a venue file: closed orders the venue keeps in memory (the file has them all). */
  closedOrdersInMemory?: number;
}

type ConnectionState = 'down' | 'connecting' | 'up';

const NO_MARKET_DATA: MarketDataHandlers = { onEvent() {}, onTrade() {}, onQuote() {} };
const NO_EXECUTION: ExecutionHandlers = { onEvent() {}, onOrderUpdate() {} };

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The simulated broker: market data from the deterministic tape, routing against a matching model,
 * and faults on demand. Live data starts when a subscription starts; anything earlier is only
 * available through requestTradeHistory, exactly like a real broker after a reconnect.
 */
export class SimBrokerAdapter implements MarketDataClient, ExecutionClient {
  readonly name = 'sim';
  /** The market itself; also the ground truth of what has printed. */
  readonly tape: Tape;
  readonly account: string;
  private readonly clock: Clock;
  private readonly emitIntervalMs: number;
  private readonly latencyMs: number;
  private readonly faults: FaultSwitchboard;
  private venue: Venue;
  private readonly venueFile: string | undefined;
  private readonly closedOrdersInMemory: number | undefined;
  /** The venue could not store its work (a full disk): routing is down until it reopens. */
  private venueFailure: Error | null = null;
  private readonly feed: LiveFeed;
  private marketData = NO_MARKET_DATA;
  private execution = NO_EXECUTION;
  private state: ConnectionState = 'down';
  private routingUp = false;
  /** Bumped on every connect and drop, so a superseded connect sequence stops. */
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Distinguishes this broker instance's order ids from an earlier instance's. */
  private readonly orderIdPrefix: string;
  /** Continues the venue's numbering, so ids stay unique even under the same prefix. */
  private nextOrderNumber: number;

  constructor(options: SimBrokerOptions) {
    this.tape = new Tape(options);
    this.clock = options.clock ?? systemClock;
    this.account = options.account ?? 'SIM-001';
    this.emitIntervalMs = options.emitIntervalMs ?? 10;
    this.latencyMs = options.latencyMs ?? 0;
    this.faults = new FaultSwitchboard(this.clock);
    this.feed = new LiveFeed(this.tape, this.faults, () => this.marketData);
    this.orderIdPrefix = `${this.clock.now().toString(36).toUpperCase()}-`;
    this.venueFile = options.venueFile;
    this.closedOrdersInMemory = options.closedOrdersInMemory;
    this.venue = this.openVenue();
    this.nextOrderNumber = this.venue.lastOrderSeq() + 1;
  }

  /** The venue from its file (or in memory), with whatever it owed decided and matched up to now. */
  private openVenue(): Venue {
    const store = this.venueFile === undefined ? null : VenueStore.open(this.venueFile);
    try {
      this.venue = new Venue(
        this.tape,
        store,
        (update) => this.execution.onOrderUpdate(update),
        (err) => this.venueLost(err),
        this.closedOrdersInMemory,
      );
      if (store) this.catchUp();
      return this.venue;
    } catch (err) {
      store?.close();
      throw err;
    }
  }

  /**
   * Like a broker whose back office is down: routing goes down (orders are refused as the broker
   * not being connected) while market data goes on; `connect` reopens the venue from its file.
   */
  private venueLost(err: Error): void {
    if (this.venueFailure) return;
    this.venueFailure = err;
    if (!this.routingUp) return;
    this.routingUp = false;
    setImmediate(() => this.emitEvent({ type: 'routing', connected: false, reason: err.message }));
  }

  /** Venue work; a venue that cannot store it takes routing down and the caller gets the error. */
  private onVenue<T>(work: () => T): T {
    try {
      return this.venue.run(work);
    } catch (err) {
      if (err instanceof VenueUnavailableError) this.venueLost(err);
      throw err;
    }
  }

  /** After a venue failure: reopened from its file, which drops the work it could not store. */
  private reopenVenue(): void {
    try {
      this.venue.close();
    } catch {
      // what it could not store is lost either way: the file is the venue
    }
    try {
      this.openVenue();
      this.venue.checkpoint();
      if (this.venue.failed) throw this.venue.failed;
    } catch (err) {
      this.venueFailure = err as Error;
      return;
    }
    this.venueFailure = null;
    this.nextOrderNumber = Math.max(this.nextOrderNumber, this.venue.lastOrderSeq() + 1);
    if (this.state === 'down') return; // the connect sequence brings routing up
    this.routingUp = true;
    this.emitEvent({ type: 'routing', connected: true });
    this.venue.release();
  }

  private get engine(): MatchingEngine {
    return this.venue.engine;
  }

  listenMarketData(handlers: MarketDataHandlers): void {
    this.marketData = handlers;
  }

  listenExecution(handlers: ExecutionHandlers): void {
    this.execution = handlers;
  }

  async connect(): Promise<void> {
    if (this.venueFailure && !this.closed) this.reopenVenue();
    if (this.state !== 'down') return;
    this.state = 'connecting';
    void this.runConnectSequence(++this.attempt);
  }

  async disconnect(): Promise<void> {
    const wasDown = this.state === 'down';
    this.drop();
    this.venue.checkpoint();
    await nextTurn();
    if (!wasDown) this.announceDrop();
  }

  /** Stops and closes the venue file; the object is unusable afterwards. */
  close(): void {
    this.drop();
    this.closed = true;
    this.venue.close();
  }

  async subscribeTrades(symbol: string, exchange: string): Promise<void> {
    this.requireInstrument(symbol, exchange);
    this.feed.subscribeTrades(symbol, this.clock.now());
  }

  async unsubscribeTrades(symbol: string, exchange: string): Promise<void> {
    this.requireInstrument(symbol, exchange);
    this.feed.unsubscribeTrades(symbol);
  }

  async subscribeQuotes(symbol: string, exchange: string): Promise<void> {
    this.requireInstrument(symbol, exchange);
    this.feed.subscribeQuotes(symbol);
  }

  async unsubscribeQuotes(symbol: string, exchange: string): Promise<void> {
    this.requireInstrument(symbol, exchange);
    this.feed.unsubscribeQuotes(symbol);
  }

  /** Trades with fromTs <= ts <= toTs that have printed by now (a broker cannot answer the future). */
  async requestTradeHistory(
    symbol: string,
    exchange: string,
    fromTs: number,
    toTs: number,
  ): Promise<Trade[]> {
    this.requireInstrument(symbol, exchange);
    if (!Number.isFinite(fromTs) || !Number.isFinite(toTs)) {
      throw new Error(`history range must be finite epoch ms, got ${fromTs}..${toTs}`);
    }
    if (this.state !== 'up') throw new Error('market data is not connected: history unavailable');
    await nextTurn();
    return this.tape.tradesBetween(symbol, Math.ceil(fromTs) - 1, Math.min(toTs, this.clock.now()));
  }

  async sendOrder(order: BrokerOrderRequest): Promise<{ brokerOrderId: string }> {
    this.requireRouting();
    const seq = this.nextOrderNumber++;
    const brokerOrderId = `${this.orderIdPrefix}${seq}`;
    const request = { ...order };
    if (this.latencyMs > 0) {
      this.onVenue(() => this.engine.receive(seq, brokerOrderId, request, this.clock.now()));
      this.onBrokerTurn(() => {
        // Closed or failed first: the order stays received, and the next venue decides it.
        if (this.closed || this.venueFailure) return;
        this.onVenue(() => this.decide(brokerOrderId, request, this.clock.now()));
      });
    } else {
      // No latency: decided as it arrives, so its acknowledgement is stored with it and delivered
      // right after that commit, ahead of the id handed back here (a fast broker's ack can be).
      // An in-memory venue (no file) delivers it at once, inside this call.
      this.onVenue(() => {
        const now = this.clock.now();
        this.engine.receive(seq, brokerOrderId, request, now);
        this.decide(brokerOrderId, request, now);
      });
    }
    // Stored before the id is handed out (with the turn's other orders, in one commit): the venue
    // has the order even if we die right after.
    await this.venue.committed();
    return { brokerOrderId };
  }

  async modifyOrder(brokerOrderId: string, change: OrderChange): Promise<void> {
    this.requireRouting();
    await this.onBrokerTurnSettled(() =>
      this.onVenue(() => this.engine.replace(brokerOrderId, change, this.clock.now())),
    );
  }

  async cancelOrder(brokerOrderId: string): Promise<void> {
    this.requireRouting();
    await this.onBrokerTurnSettled(() =>
      this.onVenue(() => this.engine.cancel(brokerOrderId, this.clock.now())),
    );
  }

  async openOrders(account: string): Promise<BrokerOpenOrder[]> {
    this.requireVenue();
    return this.engine.openOrders(account);
  }

  async positions(account: string): Promise<BrokerPosition[]> {
    this.requireVenue();
    return this.engine.positionsOf(account);
  }

  async orderReports(account: string, sinceTs: number): Promise<BrokerOrderReport[]> {
    this.requireVenue();
    return this.venue.reports(account, sinceTs);
  }

  /** A venue that could not store its work must not report it: its memory is ahead of its file. */
  private requireVenue(): void {
    if (this.venueFailure) throw new Error(`the venue is not available: ${this.venueFailure.message}`);
  }

  /** Breaks the broker on purpose; without a duration the fault lasts until clearFaults(). */
  injectFault(kind: FaultKind, durationMs?: number): void {
    this.faults.inject(kind, durationMs);
    if (kind === 'disconnect' && this.state !== 'down') {
      this.drop();
      setImmediate(() => this.announceDrop());
    }
  }

  clearFaults(): void {
    this.faults.clear();
  }

  activeFaults(): ActiveFault[] {
    return this.faults.active();
  }

  /**
   * Delivers everything due up to the clock's now: live trades and changed books, then order
   * matching. The timer calls it every emitIntervalMs; tests on a ManualClock call it directly.
   */
  emitDue(): void {
    const now = this.clock.now();
    if (this.state === 'up') this.feed.emit(now);
    if (!this.routingUp) return;
    try {
      this.onVenue(() => this.engine.matchUpTo(now));
    } catch {
      // routing is down now (venueLost); the order manager hears it and refuses new orders
    }
  }

  private async runConnectSequence(attempt: number): Promise<void> {
    const stillCurrent = async () => {
      await nextTurn();
      return attempt === this.attempt;
    };
    if (!(await stillCurrent())) return;
    if (this.faults.isActive('login-fail')) {
      this.state = 'down';
      this.emitEvent({ type: 'login', ok: false, reason: 'invalid password' });
      return;
    }
    if (this.faults.isActive('disconnect')) {
      this.emitEvent({ type: 'market', state: 'connecting' });
      if (!(await stillCurrent())) return;
      this.state = 'down';
      this.emitEvent({ type: 'market', state: 'disconnected' });
      return;
    }
    this.emitEvent({ type: 'login', ok: true });
    if (!(await stillCurrent())) return;
    this.routingUp = this.venueFailure === null;
    this.startTimer();
    if (this.routingUp) {
      this.emitEvent({ type: 'routing', connected: true });
      this.venue.release(); // what the venue did while we were away, reported on reconnect
    }
    if (!(await stillCurrent())) return;
    this.emitEvent({ type: 'market', state: 'connecting' });
    if (!(await stillCurrent())) return;
    this.feed.resumeFrom(this.clock.now());
    this.state = 'up';
    this.emitEvent({ type: 'market', state: 'connected' });
  }

  /** Stops everything at once; the events follow on the next turn (announceDrop). */
  private drop(): void {
    this.attempt++;
    this.state = 'down';
    this.routingUp = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private announceDrop(): void {
    this.feed.flush(); // what was already on its way arrives before the drop
    this.emitEvent({ type: 'market', state: 'disconnected' });
    this.emitEvent({ type: 'routing', connected: false });
  }

  private startTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.emitDue(), this.emitIntervalMs);
    this.timer.unref();
  }

  private emitEvent(event: BrokerEvent): void {
    this.marketData.onEvent(event);
    this.execution.onEvent(event);
  }

  /**
   * After a restart on a stored venue: orders received but not yet decided are decided as of their
   * arrival, then everything is matched up to now; the updates wait for routing to connect.
   */
  private catchUp(): void {
    for (const order of this.engine.pending()) {
      this.venue.run(() => {
        this.engine.matchUpTo(order.receivedAt);
        this.decide(order.brokerOrderId, order.request, order.receivedAt);
      });
    }
    this.venue.run(() => this.engine.matchUpTo(this.clock.now()));
  }

  /** The broker's turn on a received order: accept it or reject it with a reason. */
  private decide(brokerOrderId: string, request: BrokerOrderRequest, now: number): void {
    const problem = this.faults.isActive('reject-orders')
      ? 'simulated reject'
      : this.orderProblem(request, now);
    if (problem === null) this.engine.accept(brokerOrderId, now);
    else this.engine.reject(brokerOrderId, problem, now);
  }

  private orderProblem(request: BrokerOrderRequest, now: number): string | null {
    const instrument = this.tape.findInstrument(request.symbol);
    const problem = newOrderProblem(request, instrument);
    if (problem) return problem;
    if (request.account !== this.account) return `unknown account ${request.account}`;
    if (request.type === 'MARKET' && !this.tape.isOpen(request.symbol, now)) {
      return `market closed for ${request.symbol}`;
    }
    return null;
  }

  private requireInstrument(symbol: string, exchange: string): Instrument {
    const instrument = this.tape.findInstrument(symbol);
    if (!instrument) throw new Error(`unknown symbol ${symbol}: the simulator does not trade it`);
    if (instrument.exchange !== exchange) {
      throw new Error(`${symbol} trades on exchange ${instrument.exchange}, not ${exchange}`);
    }
    return instrument;
  }

  private requireRouting(): void {
    if (!this.routingUp) throw new Error('order routing is not connected');
  }

  /** Runs broker-side work after the configured latency, in submission order. */
  private onBrokerTurn(work: () => void): void {
    if (this.latencyMs > 0) setTimeout(work, this.latencyMs);
    else setImmediate(work);
  }

  private onBrokerTurnSettled(work: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.onBrokerTurn(() => {
        try {
          if (this.closed) throw new Error('the simulated broker is closed');
          work();
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  }
}
