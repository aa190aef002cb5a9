import type { BrokerEvent, BrokerOrderRequest, BrokerOrderUpdate } from '../../../domain/execution.js';
import type { Quote, Trade } from '../../../domain/market-data.js';
import { ManualClock } from '../../../kernel/clock.js';
import { DEFAULT_INSTRUMENTS } from '../../../kernel/config.js';
import type { MarketDataHandlers } from '../../../ports/broker.js';
import { SimBrokerAdapter, type SimBrokerOptions } from './sim-adapter.js';

/** 09:00 in São Paulo on a Monday. */
export const T0 = Date.parse('2026-03-16T12:00:00Z');

/** Everything an adapter delivered, in order. */
export class Recorder implements MarketDataHandlers {
  readonly events: BrokerEvent[] = [];
  readonly trades: Trade[] = [];
  readonly quotes: Quote[] = [];
  readonly updates: BrokerOrderUpdate[] = [];
  onEvent(event: BrokerEvent): void {
    this.events.push(event);
  }
  onTrade(trade: Trade): void {
    this.trades.push(trade);
  }
  onQuote(quote: Quote): void {
    this.quotes.push(quote);
  }
  onOrderUpdate(update: BrokerOrderUpdate): void {
    this.updates.push(update);
  }
  /** Listens to both sides of the adapter, recording each event once. */
  listenTo(adapter: SimBrokerAdapter): void {
    adapter.listenMarketData(this);
    adapter.listenExecution({ onEvent() {}, onOrderUpdate: (u) => this.onOrderUpdate(u) });
  }
}

/** Lets pending setImmediate work (connect steps, order acks) run. */
export async function turns(count = 8): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** An adapter on a ManualClock whose timer never fires on its own: tests drive emitDue(). */
export function manualSim(options: Partial<SimBrokerOptions> = {}, startAt = T0) {
  const clock = new ManualClock(startAt);
  const recorder = new Recorder();
  const adapter = new SimBrokerAdapter({
    seed: 7,
    tradesPerSecond: 20,
    burstFactor: 3,
    realHours: false,
    instruments: DEFAULT_INSTRUMENTS,
    timeZone: 'America/Sao_Paulo',
    clock,
    emitIntervalMs: 3_600_000,
    ...options,
  });
  recorder.listenTo(adapter);
  /** Moves the market clock and lets the adapter deliver what became due. */
  const advance = (ms: number) => {
    clock.advance(ms);
    adapter.emitDue();
  };
  return { adapter, clock, recorder, advance };
}

/** Connects and waits until market data is live. */
export async function connectFully(adapter: SimBrokerAdapter, recorder: Recorder): Promise<void> {
  await adapter.connect();
  await turns();
  const last = recorder.events.at(-1);
  if (last?.type !== 'market' || last.state !== 'connected') {
    throw new Error(`not connected: ${JSON.stringify(recorder.events)}`);
  }
}

let nextClientId = 1;

/** A one-lot WINZ26 day limit buy on SIM-001 with a fresh clientOrderId, fields overridden. */
export function simOrder(overrides: Partial<BrokerOrderRequest> = {}): BrokerOrderRequest {
  return {
    clientOrderId: `c${nextClientId++}`,
    account: 'SIM-001',
    symbol: 'WINZ26',
    exchange: 'F',
    side: 'BUY',
    type: 'LIMIT',
    quantity: 1,
    timeInForce: 'DAY',
    ...overrides,
  };
}
