import { pino } from 'pino';
import type { JournalEvent } from '../../domain/order-events.js';
import type { Order } from '../../domain/orders.js';
import { Bus } from '../../kernel/bus.js';
import { ManualClock } from '../../kernel/clock.js';
import { DEFAULT_INSTRUMENTS } from '../../kernel/config.js';
import { Registry } from '../../kernel/metrics.js';
import { MemoryOrderStore } from '../../ports/testing/memory-order-store.js';
import { ScriptedExecutionClient } from '../../ports/testing/scripted-execution.js';
import { OrderEngine } from './engine.js';
import { createOrderManagerMetrics } from './metrics.js';
import { emptyState } from './projection.js';
import { Reconciler } from './reconcile.js';
import type { CancelResult, ModifyResult, SettleResult, SubmitResult } from './results.js';
import { RiskControls } from './risk-controls.js';
import type { NewOrderBody } from './schemas.js';
import type { OrderManagerTopics } from './topics.js';

const ZONE = 'America/Sao_Paulo';
/** 10:00 in São Paulo on a Monday. */
export const T0 = Date.parse('2026-03-16T13:00:00Z');
export const ACK_TIMEOUT_MS = 2_000;
const logger = pino({ level: 'silent' });

/**
 * The engine and its reconciler on a manual clock, an in-memory journal and a scripted broker, wired
 * as the service wires them: no I/O, no waiting. Unit tests drive the commits (`store.commit()`).
 */
export async function setUp(opts: { closedOrdersInMemory?: number } = {}) {
  const clock = new ManualClock(T0);
  const store = new MemoryOrderStore(clock);
  const broker = new ScriptedExecutionClient(clock);
  const published: JournalEvent[] = [];
  const handlerErrors: unknown[] = [];
  const bus = new Bus<OrderManagerTopics>((_topic, err) => handlerErrors.push(err));
  const state = emptyState(false);
  const metrics = createOrderManagerMetrics(new Registry(), {
    openOrders: () => state.open.size,
    killSwitch: () => false,
    reconciling: () => false,
    tradingState: () => 'ACTIVE',
    positions: () => [],
  });
  const engine = new OrderEngine({
    journal: store,
    broker,
    instruments: new Map(DEFAULT_INSTRUMENTS.map((i) => [i.symbol, i])),
    state,
    account: 'SIM-001',
    ackTimeoutMs: ACK_TIMEOUT_MS,
    closedOrdersInMemory: opts.closedOrdersInMemory ?? 1_000,
    timeZone: ZONE,
    clock,
    logger,
    metrics,
    lastPrice: (symbol) => (symbol === 'WINZ26' ? 130_000 : undefined),
    publish: (e) => published.push(e),
    emptyState: () => emptyState(false),
    bus,
  });
  let rebuilt = 0;
  bus.on('state.rebuilt', () => rebuilt++);
  const controls = new RiskControls(engine, logger);
  bus.on('order.filled', (order) => controls.afterFill(order));
  broker.listenExecution({
    onEvent: (e) => {
      if (e.type === 'routing') engine.routingUp = e.connected;
    },
    onOrderUpdate: (u) => engine.onBrokerUpdate(u),
  });
  const reconciler = new Reconciler({
    engine,
    broker,
    account: 'SIM-001',
    timeZone: ZONE,
    clock,
    logger,
    metrics,
    committedSeq: () => store.lastSeq(),
  });
  await broker.connect();
  engine.rebuild();
  const types = () => store.events.map((e) => (e.type === 'order.event' ? eventType(e) : e.type));
  /** An order the broker took but never answered: UNKNOWN after the ack timeout, all committed. */
  const unanswered = async (): Promise<Order> => {
    broker.sendAnswer = 'take-silently';
    const order = placed(engine.submit(win(), 'trader'));
    const committing = store.commit(); // held until the answer, ACK_TIMEOUT_MS at most
    await clock.advanceAsync(ACK_TIMEOUT_MS);
    await committing;
    await store.commit();
    broker.sendAnswer = 'accept';
    return engine.get(order.id);
  };
  return {
    unanswered,
    clock,
    store,
    broker,
    engine,
    reconciler,
    controls,
    published,
    types,
    bus,
    handlerErrors,
    rebuilt: () => rebuilt,
  };
}

const eventType = (e: JournalEvent) => (e.data as { event: { type: string } }).event.type;

let n = 0;
export const win = (over: Partial<NewOrderBody> = {}): NewOrderBody => ({
  symbol: 'WINZ26',
  side: 'BUY',
  type: 'LIMIT',
  price: 130_000 - 5 * ++n, // a distinct price each: never a duplicate of the last one
  quantity: 1,
  ...over,
});

/** The order a submit made; anything but `accepted` fails the test with what came back. */
export function placed(r: SubmitResult): Order {
  if (r.kind !== 'accepted') throw new Error(`expected the order accepted, got ${JSON.stringify(r)}`);
  return r.order;
}

/** The order a cancel, replace or settle left; a refusal fails the test with what came back. */
export function orderAfter(r: CancelResult | ModifyResult | SettleResult): Order {
  if (r.kind !== 'cancelling' && r.kind !== 'replacing' && r.kind !== 'settled') {
    throw new Error(`expected the change accepted, got ${JSON.stringify(r)}`);
  }
  return r.order;
}
