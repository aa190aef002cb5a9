import type {
  BrokerEvent,
  BrokerOpenOrder,
  BrokerOrderReport,
  BrokerOrderRequest,
  BrokerOrderStatus,
  BrokerOrderUpdate,
  BrokerPosition,
} from '../../../domain/execution.js';
import type { Instrument } from '../../../domain/instruments.js';
import type { Logger } from '../../../kernel/logger.js';
import type { ExecutionClient, ExecutionHandlers } from '../../../ports/broker.js';
import {
  ACTIVATION_VALID,
  check,
  codeName,
  LOGIN_CONNECTED,
  ROUTING_BROKER_CONNECTED,
  stateName,
} from './codes.js';
import type { ExchangeClock } from './dates.js';
import { fillId, OrderLinks } from './order-links.js';
import type { AccountIdentifier, DllOrder, ProfitDllSession } from './session.js';

/** TConnectorOrderStatus (ABI notes §6.5) in our terms; PENDING: the broker has not decided yet. */
const STATUS: Record<number, BrokerOrderStatus | 'PENDING'> = {
  0: 'ACCEPTED', // New
  1: 'PARTIALLY_FILLED',
  2: 'FILLED',
  3: 'EXPIRED', // DoneForDay
  4: 'CANCELED',
  5: 'REPLACED',
  7: 'ACCEPTED', // Stopped
  8: 'REJECTED',
  9: 'ACCEPTED', // Suspended
  10: 'PENDING', // PendingNew
  11: 'ACCEPTED', // Calculated
  12: 'EXPIRED',
  13: 'ACCEPTED', // AcceptedForBidding
  15: 'CANCELED', // PartiallyFilledCanceled
  16: 'PENDING', // Received
  17: 'EXPIRED', // PartiallyFilledExpired
  18: 'CANCELED', // PartiallyFilledRejected: what was filled stays filled
  201: 'PENDING', // HadesCreated
  202: 'PENDING', // BrokerSent
  203: 'PENDING', // ClientCreated
  204: 'REJECTED', // OrderNotCreated
  205: 'CANCELED', // CanceledByAdmin
  206: 'PENDING', // DelayFixGateway
  207: 'PENDING', // ScheduledOrder
};
/** PendingCancel (6), PendingReplace (14), Unknown (200): no news about the order itself. */
const CLOSED: ReadonlySet<string> = new Set(['FILLED', 'CANCELED', 'REJECTED', 'EXPIRED']);

const ORDER_TYPE = { MARKET: 1, LIMIT: 2, STOP_LIMIT: 4 } as const;
const SIDE = { BUY: 1, SELL: 2 } as const;
/** PositionType 2: consolidated (day trade and carried), the account's whole position. */
const CONSOLIDATED = 2;
/** A send whose order the DLL never names is given up on after this (the order manager has long timed it out). */
const SEND_GIVE_UP_MS = 600_000;
/** Order news for an order not yet known to be ours waits this long for its SendOrder to return. */
const HOLD_MS = 30_000;

export interface ProfitDllExecutionOptions {
  exchangeClock: ExchangeClock;
  /** 0: as the DLL's account callback reports it. */
  brokerId: number;
  routingPassword: () => string;
  instruments: readonly Instrument[];
  linksFile: string | null;
  logger: Logger | null;
}

/** What was last passed on about one order, to tell news from repeats. */
interface Known {
  clientOrderId: string;
  accepted: boolean;
  closed: boolean;
  traded: number;
  quantity: number;
  price: number;
  stopPrice: number;
  account: string;
  brokerId: number;
}

/**
 * Routing through ProfitDLL. The DLL knows orders by its ClOrdID (kept across sessions; the local
 * id is per session), which is our brokerOrderId; OrderLinks keeps which are ours and their fills.
 * A send resolves once the DLL has named the order and the link is on disk.
 */
export class ProfitDllExecution implements ExecutionClient {
  readonly name = 'profitdll';
  private handlers: ExecutionHandlers | null = null;
  private readonly links: OrderLinks;
  private readonly brokerIds = new Map<string, number>();
  private readonly clientByLocal = new Map<number, string>();
  private readonly sends = new Map<string, { resolve: (id: string) => void; timer: NodeJS.Timeout }>();
  private readonly held = new Map<number, { at: number; orders: DllOrder[] }>();
  private readonly known = new Map<string, Known>();
  /** What we last said of routing, and what the DLL says (ROTEAMENTO_BROKER_CONNECTED). */
  private routing: boolean | null = null;
  private dllRouting = false;

  constructor(
    private readonly session: ProfitDllSession,
    private readonly opts: ProfitDllExecutionOptions,
  ) {
    this.links = new OrderLinks(opts.linksFile);
    session.listen({
      state: (type, value) => {
        if (type === 'login' && value !== LOGIN_CONNECTED) {
          this.handlers?.onEvent({ type: 'login', ok: false, reason: stateName(type, value) });
        } else if (type === 'login') {
          this.handlers?.onEvent({ type: 'login', ok: true });
        } else if (type === 'activation' && value !== ACTIVATION_VALID) {
          this.handlers?.onEvent({
            type: 'login',
            ok: false,
            reason: `${stateName(type, value)}: the activation key was refused`,
          });
        } else if (type === 'routing') {
          this.dllRouting = value === ROUTING_BROKER_CONNECTED;
          this.reportRouting();
        }
      },
      account: (brokerId, account) => {
        this.brokerIds.set(account, brokerId);
        this.reportRouting();
      },
      order: (order) => this.onOrder(order),
    });
  }

  connect(): Promise<void> {
    return this.session.initialize('routing');
  }

  async disconnect(): Promise<void> {
    this.routing = null;
    this.dllRouting = false;
    await this.session.finalize();
  }

  /**
   * Routing is up once the DLL is through to the broker and the account list has come (its broker
   * id goes in every request; the list arrives after the states, ABI notes §6.6).
   */
  private reportRouting(): void {
    const up = this.dllRouting && (this.opts.brokerId > 0 || this.brokerIds.size > 0);
    if (up !== this.routing) this.emit({ type: 'routing', connected: up });
    this.routing = up;
  }

  close(): void {
    this.links.close();
  }

  listenExecution(handlers: ExecutionHandlers): void {
    this.handlers = handlers;
  }

  async sendOrder(req: BrokerOrderRequest): Promise<{ brokerOrderId: string }> {
    const record = {
      Version: 1,
      AccountID: this.accountId(req.account),
      AssetID: { Version: 0, Ticker: req.symbol, Exchange: req.exchange, FeedType: 0 },
      Password: this.opts.routingPassword(),
      ...prices(req),
      OrderSide: SIDE[req.side],
      Quantity: req.quantity,
      MessageID: 0,
    };
    const known = this.links.idOf(req.clientOrderId);
    if (known) return { brokerOrderId: known };
    this.links.intent(req.clientOrderId, req, Date.now());
    const named = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sends.delete(req.clientOrderId);
        reject(new Error(`ProfitDLL never named order ${req.clientOrderId}; reconciliation will find it`));
      }, SEND_GIVE_UP_MS);
      this.sends.set(req.clientOrderId, { resolve, timer });
    });
    let localId: number;
    try {
      localId = check(
        'SendOrder',
        await this.session.call<number | bigint>('SendOrder', (dll) => dll.SendOrder, record),
      );
    } catch (err) {
      const send = this.sends.get(req.clientOrderId);
      if (send) clearTimeout(send.timer);
      this.sends.delete(req.clientOrderId);
      throw err;
    }
    this.clientByLocal.set(localId, req.clientOrderId);
    const held = this.held.get(localId);
    this.held.delete(localId);
    for (const order of held?.orders ?? []) this.onOrder(order);
    return { brokerOrderId: await named };
  }

  async modifyOrder(
    brokerOrderId: string,
    change: { price?: number; quantity?: number; stopPrice?: number },
  ): Promise<void> {
    const k = await this.current(brokerOrderId);
    const rc = await this.session.call<number>('SendChangeOrderV2', (dll) => dll.SendChangeOrderV2, {
      Version: 0,
      AccountID: this.accountId(k.account),
      OrderID: { Version: 0, LocalOrderID: -1, ClOrderID: brokerOrderId },
      Password: this.opts.routingPassword(),
      Price: change.price ?? k.price,
      StopPrice: change.stopPrice ?? k.stopPrice,
      Quantity: change.quantity ?? k.quantity,
      MessageID: 0,
    });
    check('SendChangeOrderV2', rc);
  }

  async cancelOrder(brokerOrderId: string): Promise<void> {
    const k = await this.current(brokerOrderId);
    const rc = await this.session.call<number>('SendCancelOrderV2', (dll) => dll.SendCancelOrderV2, {
      Version: 0,
      AccountID: this.accountId(k.account),
      OrderID: { Version: 0, LocalOrderID: -1, ClOrderID: brokerOrderId },
      Password: this.opts.routingPassword(),
      MessageID: 0,
    });
    check('SendCancelOrderV2', rc);
  }

  /** SendCancelAllOrdersV2: every open order of the account, ours or not. */
  async cancelAll(account: string): Promise<void> {
    const rc = await this.session.call<number>('SendCancelAllOrdersV2', (dll) => dll.SendCancelAllOrdersV2, {
      Version: 0,
      AccountID: this.accountId(account),
      Password: this.opts.routingPassword(),
    });
    check('SendCancelAllOrdersV2', rc);
  }

  async openOrders(account: string): Promise<BrokerOpenOrder[]> {
    return (await this.orderReports(account, 0))
      .filter((r) => !CLOSED.has(r.status))
      .map(({ clientOrderId, brokerOrderId, request, filledQty, leavesQty }) => ({
        clientOrderId,
        brokerOrderId,
        request,
        filledQty,
        leavesQty,
      }));
  }

  async positions(account: string): Promise<BrokerPosition[]> {
    const out: BrokerPosition[] = [];
    for (const instrument of this.opts.instruments) {
      const record = {
        Version: 1,
        AccountID: this.accountId(account),
        AssetID: { Version: 0, Ticker: instrument.symbol, Exchange: instrument.exchange, FeedType: 0 },
        PositionType: CONSOLIDATED,
        OpenQuantity: 0 as number | bigint,
        OpenSide: 0,
        OpenAveragePrice: 0,
      };
      const rc = await this.session.call<number>('GetPositionV2', (dll) => dll.GetPositionV2, record);
      if (codeName(rc) === 'NL_NO_POSITION') continue;
      check('GetPositionV2', rc);
      const quantity = Number(record.OpenQuantity) * (record.OpenSide === 2 ? -1 : 1);
      if (quantity !== 0)
        out.push({ account, symbol: instrument.symbol, quantity, averagePrice: record.OpenAveragePrice });
    }
    return out;
  }

  async orderReports(account: string, sinceTs: number): Promise<BrokerOrderReport[]> {
    const orders = await this.session.enumerateOrders(this.accountId(account));
    const reports: BrokerOrderReport[] = [];
    for (const o of orders) {
      const updatedAt = Number.isNaN(o.updatedAt) ? o.createdAt : o.updatedAt;
      if (!(updatedAt >= sinceTs)) continue;
      const clientOrderId = this.clientOfReported(o);
      const status = STATUS[o.status] ?? 'PENDING';
      const recorded = this.links.fills(o.clOrdId);
      const fills = [...recorded.fills];
      if (o.traded > recorded.cum) {
        // Fills made while we were away arrive as one: the running total names it.
        const qty = o.traded - recorded.cum;
        fills.push({
          tradeId: fillId(o.clOrdId, o.traded),
          qty,
          price: fillPrice(o, recorded.value, qty),
          ts: updatedAt,
        });
      }
      reports.push({
        clientOrderId,
        brokerOrderId: o.clOrdId,
        request: this.requestOf(clientOrderId, o),
        status,
        filledQty: o.traded,
        leavesQty: o.leaves,
        avgPrice: o.traded > 0 ? o.averagePrice : 0,
        fills,
        updatedAt,
        ...(o.text && status === 'REJECTED' && { reason: o.text }),
      });
    }
    return reports;
  }

  /** A reported order's clientOrderId: linked; else a sent request it matches; else the DLL's own id. */
  private clientOfReported(o: DllOrder): string {
    const linked = this.links.clientOf(o.clOrdId);
    if (linked) return linked;
    const match = this.links
      .unlinked()
      .find(
        ({ req, at }) =>
          req.account === o.account &&
          req.symbol === o.ticker &&
          SIDE[req.side] === o.side &&
          req.quantity === o.quantity &&
          (Number.isNaN(o.createdAt) || at <= o.createdAt + 1_000),
      );
    if (!match) return `profitdll-${o.clOrdId}`;
    this.links.link(match.clientOrderId, o.clOrdId);
    return match.clientOrderId;
  }

  private requestOf(clientOrderId: string, o: DllOrder): BrokerOrderRequest {
    const sent = this.links.requestOf(clientOrderId);
    const type =
      o.type === ORDER_TYPE.MARKET ? 'MARKET' : o.type === ORDER_TYPE.STOP_LIMIT ? 'STOP_LIMIT' : 'LIMIT';
    return {
      clientOrderId,
      account: o.account,
      symbol: o.ticker,
      exchange: o.exchange,
      side: o.side === SIDE.SELL ? 'SELL' : 'BUY',
      type,
      quantity: o.quantity,
      ...(type !== 'MARKET' && { price: o.price }),
      ...(type === 'STOP_LIMIT' && { stopPrice: o.stopPrice }),
      timeInForce: sent?.timeInForce ?? 'DAY',
    };
  }

  private onOrder(o: DllOrder): void {
    const clientOrderId = this.links.clientOf(o.clOrdId) ?? this.clientByLocal.get(o.localId);
    if (!clientOrderId) {
      this.hold(o);
      return;
    }
    if (!o.clOrdId) return; // named once the DLL gives its id
    this.links.link(clientOrderId, o.clOrdId);
    const send = this.sends.get(clientOrderId);
    if (send) {
      clearTimeout(send.timer);
      this.sends.delete(clientOrderId);
      send.resolve(o.clOrdId);
    }
    this.report(clientOrderId, o);
  }

  /** News of an order whose SendOrder has not returned yet (or not ours: dropped after HOLD_MS). */
  private hold(o: DllOrder): void {
    const now = Date.now();
    for (const [localId, h] of this.held) if (now - h.at > HOLD_MS) this.held.delete(localId);
    const h = this.held.get(o.localId) ?? { at: now, orders: [] };
    h.orders.push(o);
    this.held.set(o.localId, h);
  }

  /** What changed since the last news of the order, as updates: its acceptance, a fill, a replace, its end. */
  private report(clientOrderId: string, o: DllOrder): void {
    const status = STATUS[o.status];
    let k = this.known.get(o.clOrdId);
    if (!k) {
      const recorded = this.links.fills(o.clOrdId);
      k = {
        clientOrderId,
        accepted: false,
        closed: false,
        traded: recorded.cum,
        quantity: o.quantity,
        price: o.price,
        stopPrice: o.stopPrice,
        account: o.account,
        brokerId: o.brokerId,
      };
      this.known.set(o.clOrdId, k);
    }
    if (k.closed || status === undefined || status === 'PENDING') return;
    const ts = Number.isNaN(o.updatedAt) ? Date.now() : o.updatedAt;
    const base = { clientOrderId, brokerOrderId: o.clOrdId, ts, filledQty: o.traded, leavesQty: o.leaves };
    const send = (update: Omit<BrokerOrderUpdate, keyof typeof base>) =>
      this.handlers?.onOrderUpdate({ ...base, ...update });
    if (!k.accepted && status !== 'REJECTED') {
      k.accepted = true;
      send({ status: 'ACCEPTED' });
    }
    if (status === 'REPLACED' || o.quantity !== k.quantity || o.price !== k.price) {
      if (o.quantity !== k.quantity || o.price !== k.price) {
        send({ status: 'REPLACED', quantity: o.quantity, price: o.price });
        k.quantity = o.quantity;
        k.price = o.price;
        k.stopPrice = o.stopPrice;
      }
    }
    if (o.traded > k.traded) {
      const recorded = this.links.fills(o.clOrdId);
      const qty = o.traded - k.traded;
      const fill = this.links.addFill(o.clOrdId, o.traded, qty, fillPrice(o, recorded.value, qty), ts);
      k.traded = o.traded;
      send({ status: o.traded >= o.quantity ? 'FILLED' : 'PARTIALLY_FILLED', fill });
    }
    if (status === 'CANCELED' || status === 'EXPIRED' || status === 'REJECTED') {
      k.closed = true;
      send({ status, ...(status === 'REJECTED' && { reason: o.text || 'rejected by the broker' }) });
    } else if (status === 'FILLED') {
      k.closed = true;
    }
  }

  /**
   * The order as last reported; one this session has not heard of yet (sent before a restart) is
   * looked up in the DLL's order list.
   */
  private async current(brokerOrderId: string): Promise<Known> {
    const k = this.known.get(brokerOrderId);
    if (k) return k;
    const accounts = new Set([...this.brokerIds.keys()]);
    const linked = this.links.clientOf(brokerOrderId);
    const sent = linked ? this.links.requestOf(linked) : undefined;
    if (sent) accounts.add(sent.account);
    for (const account of accounts) {
      const o = (await this.session.enumerateOrders(this.accountId(account))).find(
        (x) => x.clOrdId === brokerOrderId,
      );
      if (!o) continue;
      this.report(this.clientOfReported(o), o);
      const found = this.known.get(brokerOrderId);
      if (found) return found;
    }
    throw new Error(`ProfitDLL has no order ${brokerOrderId}`);
  }

  private accountId(account: string): AccountIdentifier {
    const brokerId = this.opts.brokerId || this.brokerIds.get(account) || 0;
    return { Version: 0, BrokerID: brokerId, AccountID: account, SubAccountID: '', Reserved: 0 };
  }

  private emit(event: BrokerEvent): void {
    this.handlers?.onEvent(event);
  }
}

/** The price of the newest fill: what the running average says the last `qty` cost. */
function fillPrice(o: DllOrder, valueBefore: number, qty: number): number {
  const price = (o.averagePrice * o.traded - valueBefore) / qty;
  return Number(price.toFixed(8));
}

/** OrderType, Price and StopPrice for SendOrder (V1 enums; -1 where a price does not apply). */
function prices(req: BrokerOrderRequest): { OrderType: number; Price: number; StopPrice: number } {
  if (req.timeInForce !== 'DAY') {
    throw new Error(`ProfitDLL SendOrder takes no time in force: only DAY orders, not ${req.timeInForce}`);
  }
  switch (req.type) {
    case 'MARKET':
      return { OrderType: ORDER_TYPE.MARKET, Price: -1, StopPrice: -1 };
    case 'LIMIT':
      return { OrderType: ORDER_TYPE.LIMIT, Price: req.price ?? 0, StopPrice: -1 };
    case 'STOP_LIMIT':
      return { OrderType: ORDER_TYPE.STOP_LIMIT, Price: req.price ?? 0, StopPrice: req.stopPrice ?? 0 };
    case 'STOP':
      throw new Error(
        'ProfitDLL has no stop-market order (SendOrder V1: market, limit, stop-limit); use STOP_LIMIT',
      );
  }
}
