import type {
  BrokerFill,
  BrokerOpenOrder,
  BrokerOrderReport,
  BrokerOrderRequest,
  BrokerOrderUpdate,
  BrokerPosition,
} from '../../domain/execution.js';
import type { Clock } from '../../kernel/clock.js';
import type { ExecutionClient, ExecutionHandlers } from '../broker.js';

/**
 * How the broker answers a new order: `accept` (acknowledged at once, with its id), `id-only`
 * (the call returns the id, no acknowledgement yet), `reject` (the call fails), `lose` (the
 * request never arrives and the call never returns), `take-silently` (the broker has it and
 * answers only when the test calls `accept`: a late answer).
 */
export type SendAnswer = 'accept' | 'id-only' | 'reject' | 'lose' | 'take-silently';
/** How the broker answers a cancel or a replace: `confirm`, `reject` (the call fails) or `lose`. */
export type ChangeAnswer = 'confirm' | 'reject' | 'lose';

interface BrokerOrder {
  request: BrokerOrderRequest;
  brokerOrderId: string;
  status: BrokerOrderReport['status'];
  filledQty: number;
  fills: BrokerFill[];
  updatedAt: number;
}

const NO_HANDLERS: ExecutionHandlers = { onEvent() {}, onOrderUpdate() {} };

/**
 * A broker for unit tests of the order manager: it keeps the orders it received (its reports and
 * positions come from them) and answers as the test scripts it; market events (fills, a broker's
 * own cancel) are sent by the test. Every update reaches the handlers synchronously.
 */
export class ScriptedExecutionClient implements ExecutionClient {
  readonly name = 'scripted';
  sendAnswer: SendAnswer = 'accept';
  cancelAnswer: ChangeAnswer = 'confirm';
  modifyAnswer: ChangeAnswer = 'confirm';
  /** Every request that reached the broker, in order. */
  readonly sent: BrokerOrderRequest[] = [];
  readonly cancels: string[] = [];
  readonly modifies: { brokerOrderId: string; change: { price?: number; quantity?: number } }[] = [];
  /** How many times the reports and positions were asked for. */
  reportReads = 0;
  /** This many report requests fail (a broker not answering yet). */
  reportsFailing = 0;
  private readonly orders = new Map<string, BrokerOrder>();
  /** Orders the broker's reports leave out (a partial or lagging answer). */
  private readonly unreported = new Set<string>();
  /** The calls of orders taken silently, answered by `accept`. */
  private readonly unanswered = new Map<string, () => void>();
  private handlers = NO_HANDLERS;
  private nextId = 1;
  private nextTrade = 1;

  constructor(private readonly clock: Clock) {}

  listenExecution(handlers: ExecutionHandlers): void {
    this.handlers = handlers;
  }

  async connect(): Promise<void> {
    this.handlers.onEvent({ type: 'routing', connected: true });
  }

  async disconnect(): Promise<void> {
    this.handlers.onEvent({ type: 'routing', connected: false });
  }

  sendOrder(request: BrokerOrderRequest): Promise<{ brokerOrderId: string }> {
    const answer = this.sendAnswer;
    if (answer === 'lose') return new Promise(() => {});
    if (answer === 'reject') return Promise.reject(new Error('refused by the scripted broker'));
    this.sent.push(request);
    const order = this.receive(request);
    if (answer === 'take-silently') {
      return new Promise((resolve) => {
        this.unanswered.set(request.clientOrderId, () => resolve({ brokerOrderId: order.brokerOrderId }));
      });
    }
    if (answer === 'accept') this.update(order, 'ACCEPTED');
    return Promise.resolve({ brokerOrderId: order.brokerOrderId });
  }

  async cancelOrder(brokerOrderId: string): Promise<void> {
    this.cancels.push(brokerOrderId);
    const answer = this.cancelAnswer;
    if (answer === 'lose') return new Promise(() => {});
    if (answer === 'reject') throw new Error('cancel refused by the scripted broker');
    const order = this.byBrokerId(brokerOrderId);
    order.status = 'CANCELED';
    this.update(order, 'CANCELED');
  }

  async modifyOrder(brokerOrderId: string, change: { price?: number; quantity?: number }): Promise<void> {
    this.modifies.push({ brokerOrderId, change });
    const answer = this.modifyAnswer;
    if (answer === 'lose') return new Promise(() => {});
    if (answer === 'reject') throw new Error('replace refused by the scripted broker');
    const order = this.byBrokerId(brokerOrderId);
    order.request = { ...order.request, ...change };
    this.update(order, 'REPLACED', { ...change });
  }

  async orderReports(account: string, sinceTs: number): Promise<BrokerOrderReport[]> {
    this.reportReads++;
    if (this.reportsFailing > 0) {
      this.reportsFailing--;
      throw new Error('the scripted broker does not answer');
    }
    return [...this.orders.values()]
      .filter(
        (o) =>
          o.request.account === account &&
          o.updatedAt >= sinceTs &&
          !this.unreported.has(o.request.clientOrderId),
      )
      .map((o) => this.report(o));
  }

  async openOrders(account: string): Promise<BrokerOpenOrder[]> {
    return [...this.orders.values()]
      .filter((o) => o.request.account === account && WORKING.has(o.status))
      .map((o) => ({
        clientOrderId: o.request.clientOrderId,
        brokerOrderId: o.brokerOrderId,
        request: o.request,
        filledQty: o.filledQty,
        leavesQty: o.request.quantity - o.filledQty,
      }));
  }

  async positions(account: string): Promise<BrokerPosition[]> {
    const net = new Map<string, number>();
    for (const o of this.orders.values()) {
      if (o.request.account !== account) continue;
      const signed = o.request.side === 'BUY' ? o.filledQty : -o.filledQty;
      net.set(o.request.symbol, (net.get(o.request.symbol) ?? 0) + signed);
    }
    return [...net]
      .filter(([, quantity]) => quantity !== 0)
      .map(([symbol, quantity]) => ({ account, symbol, quantity, averagePrice: 0 }));
  }

  // What the test makes happen at the broker.

  /** The broker's copy of an order, by our client order id. */
  order(clientOrderId: string): BrokerOrder | undefined {
    return [...this.orders.values()].find((o) => o.request.clientOrderId === clientOrderId);
  }

  /** Fills `qty` at `price` and reports it (FILLED once nothing is left); returns the trade id. */
  fill(clientOrderId: string, qty: number, price: number, report = true): string {
    const order = this.need(clientOrderId);
    const tradeId = `T-${this.nextTrade++}`;
    const fill = { tradeId, price, qty, ts: this.clock.now() };
    order.fills.push(fill);
    order.filledQty += qty;
    order.status = order.filledQty >= order.request.quantity ? 'FILLED' : 'PARTIALLY_FILLED';
    if (report) this.update(order, order.status, {}, fill);
    else order.updatedAt = this.clock.now();
    return tradeId;
  }

  /** Acknowledges an order taken silently: its acknowledgement, then the answer to the call. */
  accept(clientOrderId: string): void {
    const order = this.need(clientOrderId);
    order.status = 'ACCEPTED';
    this.update(order, 'ACCEPTED');
    this.unanswered.get(clientOrderId)?.();
    this.unanswered.delete(clientOrderId);
  }

  /** An order placed at the broker by someone else (another terminal), or sent by us and forgotten. */
  place(request: BrokerOrderRequest): BrokerOrder {
    const order = this.receive(request);
    order.status = 'ACCEPTED';
    return order;
  }

  /** Leaves an order out of the broker's reports (or puts it back). */
  hideFromReports(clientOrderId: string, hidden = true): void {
    if (hidden) this.unreported.add(clientOrderId);
    else this.unreported.delete(clientOrderId);
  }

  /** Sends an update as is: news for an order our side may not know. */
  emit(update: BrokerOrderUpdate): void {
    this.handlers.onOrderUpdate(update);
  }

  private receive(request: BrokerOrderRequest): BrokerOrder {
    const order: BrokerOrder = {
      request,
      brokerOrderId: `B-${this.nextId++}`,
      status: 'PENDING',
      filledQty: 0,
      fills: [],
      updatedAt: this.clock.now(),
    };
    this.orders.set(order.brokerOrderId, order);
    return order;
  }

  private update(
    order: BrokerOrder,
    status: BrokerOrderUpdate['status'],
    change: { price?: number; quantity?: number } = {},
    fill?: BrokerFill,
  ): void {
    order.updatedAt = this.clock.now();
    this.handlers.onOrderUpdate({
      clientOrderId: order.request.clientOrderId,
      brokerOrderId: order.brokerOrderId,
      status,
      ts: order.updatedAt,
      filledQty: order.filledQty,
      leavesQty: order.request.quantity - order.filledQty,
      ...(fill && { fill: { tradeId: fill.tradeId, price: fill.price, qty: fill.qty } }),
      ...change,
    });
  }

  private report(o: BrokerOrder): BrokerOrderReport {
    const value = o.fills.reduce((sum, f) => sum + f.price * f.qty, 0);
    return {
      clientOrderId: o.request.clientOrderId,
      brokerOrderId: o.brokerOrderId,
      request: o.request,
      status: o.status,
      filledQty: o.filledQty,
      leavesQty: o.request.quantity - o.filledQty,
      avgPrice: o.filledQty > 0 ? value / o.filledQty : 0,
      fills: [...o.fills],
      updatedAt: o.updatedAt,
    };
  }

  private byBrokerId(brokerOrderId: string): BrokerOrder {
    const order = this.orders.get(brokerOrderId);
    if (!order) throw new Error(`no broker order ${brokerOrderId}`);
    return order;
  }

  private need(clientOrderId: string): BrokerOrder {
    const order = this.order(clientOrderId);
    if (!order) throw new Error(`the broker has no order ${clientOrderId}`);
    return order;
  }
}

const WORKING: ReadonlySet<BrokerOrderReport['status']> = new Set(['ACCEPTED', 'PARTIALLY_FILLED']);
