import koffi, { type TypeObject } from 'koffi';
import type { Aggressor, Trade } from '../../../domain/market-data.js';
import type { Logger } from '../../../kernel/logger.js';
import {
  check,
  ProfitDllError,
  type StateType,
  stateName,
  stateTypeOf,
  TC_IS_EDIT,
  TC_LAST_PACKET,
} from './codes.js';
import type { ProfitDllCredentials } from './credentials.js';
import type { ExchangeClock, SystemTime } from './dates.js';
import { CALLBACKS, loadProfitDll, type ProfitDll, RECORDS } from './ffi.js';
import type { CallbackKind, ProfitDllMetrics } from './metrics.js';

/** TConnectorAccountIdentifier, as the order records and EnumerateAllOrders take it. */
export interface AccountIdentifier {
  Version: 0;
  BrokerID: number;
  AccountID: string;
  SubAccountID: string;
  Reserved: 0;
}

/** One order as GetOrderDetails or EnumerateAllOrders tells it, decoded. */
export interface DllOrder {
  localId: number;
  clOrdId: string;
  brokerId: number;
  account: string;
  subAccount: string;
  ticker: string;
  exchange: string;
  quantity: number;
  traded: number;
  leaves: number;
  price: number;
  stopPrice: number;
  averagePrice: number;
  /** V1 enums: side 1 buy, 2 sell; type 1 market, 2 limit, 4 stop-limit. */
  side: number;
  type: number;
  status: number;
  validity: number;
  /** Epoch ms; NaN when the DLL left it empty. */
  createdAt: number;
  updatedAt: number;
  text: string;
  eventId: number;
}

/** What the DLL said, in the order it said it, for the clients built on the session. */
export interface SessionHandlers {
  state(type: StateType, value: number): void;
  trade(trade: Trade, edit: boolean): void;
  history(trade: Trade, last: boolean): void;
  progress(ticker: string, progress: number): void;
  book(ticker: string, exchange: string, side: 'bid' | 'ask', price: number, quantity: number): void;
  order(order: DllOrder): void;
  account(brokerId: number, account: string, holder: string): void;
}

export interface ProfitDllSessionOptions {
  library: string;
  /** Read at each login. */
  credentials: (routing: boolean) => ProfitDllCredentials;
  exchangeClock: ExchangeClock;
  logger: Logger | null;
  metrics: ProfitDllMetrics | null;
  finalizeTimeoutMs: number;
}

/** One DLL state change as `check-connection` shows it. */
export interface DllTransition {
  /** Epoch ms. */
  at: number;
  type: StateType;
  value: number;
  name: string;
}
const TRANSITIONS_KEPT = 50;

interface Inbox {
  at: number;
  kind: CallbackKind;
  /** What the session itself does first, once. */
  note?: () => void;
  deliver: (h: Partial<SessionHandlers>) => void;
}

/**
 * One ProfitDLL login in this process (the DLL is one per process): loading it, its callbacks,
 * initialisation and finalisation, and the threading rules of the ABI notes §7.
 *
 * - Each callback runs on Node's thread while the DLL's thread waits for it (koffi relays it), so it
 *   does O(1) work: it decodes what is valid only during the call (TranslateTrade, GetOrderDetails),
 *   queues the result and returns. The queue is handled on a later turn, after the DLL's thread was
 *   let go; that is also where clients may make requests, which are refused inside a callback.
 * - A throw while handling is caught and counted, never let back into the DLL.
 * - Requests that may wait on the DLL's thread go through koffi's `.async` (a worker thread), so
 *   Node's thread stays free to run the callbacks they wait for; DLLFinalize above all.
 * - The callbacks stay registered for the life of the session (the DLL keeps the pointers), and a
 *   timer keeps Node alive while the DLL is initialised: koffi's relay alone does not.
 */
export class ProfitDllSession {
  private dll: ProfitDll | null = null;
  private callbacks: Record<string, bigint> | null = null;
  private readonly listeners: Partial<SessionHandlers>[] = [];
  private inbox: Inbox[] = [];
  private draining = false;
  private inCallback = false;
  private keepAlive: NodeJS.Timeout | null = null;
  /** 'market' or 'routing' while initialised. */
  mode: 'market' | 'routing' | null = null;
  private finalizing: Promise<void> | null = null;
  /** The DLL's latest value per state type (null: not said since the login). */
  readonly latest: Record<StateType, number | null> = {
    login: null,
    routing: null,
    market: null,
    activation: null,
  };
  readonly transitions: DllTransition[] = [];
  private enumerating: DllOrder[] | null = null;
  private enumerateCallback: bigint | null = null;
  /** Callbacks whose handling threw, since start. */
  callbackErrors = 0;

  constructor(private readonly opts: ProfitDllSessionOptions) {}

  /** The DLL's own view, for `check-connection` and data-capture's `/api/status`. */
  describe() {
    return {
      name: 'ProfitDLL',
      states: Object.fromEntries(
        (Object.keys(this.latest) as StateType[]).map((type) => {
          const value = this.latest[type];
          return [type, value === null ? null : stateName(type, value)];
        }),
      ),
      transitions: this.transitions.map((t) => ({
        at: new Date(t.at).toISOString(),
        type: t.type,
        state: t.name,
      })),
      callbackErrors: this.callbackErrors,
    };
  }

  /** Adds a listener: the market-data and routing clients of one login each have theirs. */
  listen(handlers: Partial<SessionHandlers>): void {
    this.listeners.push(handlers);
  }

  /**
   * Initialises the DLL: DLLInitializeLogin with routing, else DLLInitializeMarketLogin. Resolves
   * once the DLL took the call; the login's outcome arrives through the state callback.
   */
  async initialize(mode: 'market' | 'routing'): Promise<void> {
    if (this.finalizing) await this.finalizing;
    if (this.mode === mode) return;
    if (this.mode)
      throw new Error(`ProfitDLL is already initialised for ${this.mode}; one login per process`);
    const credentials = this.opts.credentials(mode === 'routing');
    const dll = this.load();
    const cb = this.register();
    for (const type of Object.keys(this.latest) as StateType[]) this.latest[type] = null;
    const { activationKey, user, password } = credentials;
    // Through koffi's worker like every request: the login must not hold Node's thread, which
    // the DLL's first callbacks may already need.
    const rc =
      mode === 'routing'
        ? await asyncCall<number>(
            dll.DLLInitializeLogin,
            activationKey,
            user,
            password,
            cb.state,
            null,
            null,
            cb.account,
            null,
            null,
            null,
            null,
            null,
            cb.progress,
            cb.book,
          )
        : await asyncCall<number>(
            dll.DLLInitializeMarketLogin,
            activationKey,
            user,
            password,
            cb.state,
            null,
            null,
            null,
            null,
            null,
            cb.progress,
            cb.book,
          );
    check(mode === 'routing' ? 'DLLInitializeLogin' : 'DLLInitializeMarketLogin', rc);
    this.mode = mode;
    this.keepAlive ??= setInterval(() => {}, 1 << 30);
    // The modern callbacks are set after a successful initialisation, as the official examples do.
    check('SetTradeCallbackV2', dll.SetTradeCallbackV2(cb.trade));
    check('SetHistoryTradeCallbackV2', dll.SetHistoryTradeCallbackV2(cb.history));
    if (mode === 'routing') check('SetOrderCallback', dll.SetOrderCallback(cb.order));
  }

  /**
   * DLLFinalize through `.async`: the DLL's thread says goodbye through callbacks that need Node's
   * thread free. A DLL that does not return within finalizeTimeoutMs is reported and left running;
   * the session cannot initialise again until it returns.
   */
  finalize(): Promise<void> {
    if (this.finalizing) return this.finalizing;
    const dll = this.dll;
    if (!this.mode || !dll) return Promise.resolve();
    const done = asyncCall<number>(dll.DLLFinalize).then((rc) => {
      check('DLLFinalize', rc);
    });
    const finalizing = done.finally(() => {
      this.mode = null;
      this.finalizing = null;
      if (this.keepAlive) clearInterval(this.keepAlive);
      this.keepAlive = null;
    });
    this.finalizing = finalizing;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`ProfitDLL DLLFinalize did not return within ${this.opts.finalizeTimeoutMs} ms`)),
        this.opts.finalizeTimeoutMs,
      );
      finalizing.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** The loaded DLL for a request; refused inside a callback (ABI notes §7.1, rule 3). */
  request(call: string): ProfitDll {
    if (this.inCallback)
      throw new Error(`ProfitDLL ${call} inside a DLL callback: requests wait for the next turn`);
    if (!this.dll || !this.mode) throw new ProfitDllError(call, STATE_NOT_INITIALIZED);
    return this.dll;
  }

  /** A request through koffi's worker thread (see the class comment). */
  call<T>(
    call: string,
    fn: (dll: ProfitDll) => { async: (...args: unknown[]) => void },
    ...args: unknown[]
  ): Promise<T> {
    return asyncCall<T>(fn(this.request(call)), ...args);
  }

  /**
   * EnumerateAllOrders: the DLL calls our procedure once per order, synchronously, on the thread
   * that asked (koffi's worker, relayed here); each record is valid during its call only.
   */
  async enumerateOrders(account: AccountIdentifier): Promise<DllOrder[]> {
    const dll = this.request('EnumerateAllOrders');
    const orders: DllOrder[] = [];
    this.enumerating = orders;
    try {
      const rc = await asyncCall<number>(dll.EnumerateAllOrders, account, 1, 0, this.enumerateProc());
      check('EnumerateAllOrders', rc);
      return orders;
    } finally {
      this.enumerating = null;
    }
  }

  private enumerateProc(): bigint {
    this.enumerateCallback ??= koffi.register((pointer: unknown) => {
      this.opts.metrics?.callbacks.inc({ kind: 'enumerate' });
      try {
        this.enumerating?.push(enumeratedOrder(this.opts.exchangeClock, pointer));
        return 1;
      } catch (err) {
        this.failed('enumerate', err);
        return 0;
      }
    }, koffi.pointer(CALLBACKS.enumerateOrders));
    return this.enumerateCallback;
  }

  private load(): ProfitDll {
    if (this.dll) return this.dll;
    try {
      this.dll = loadProfitDll(this.opts.library);
    } catch (err) {
      throw new Error(`ProfitDLL cannot be loaded from ${this.opts.library}: ${(err as Error).message}`);
    }
    return this.dll;
  }

  /** The callbacks, registered once: the DLL may call any of them until DLLFinalize returns. */
  private register(): Record<string, bigint> {
    if (this.callbacks) return this.callbacks;
    const dll = this.dll as ProfitDll;
    const clock = this.opts.exchangeClock;
    const reg = (kind: CallbackKind, proto: TypeObject, fn: (...args: never[]) => unknown) =>
      koffi.register(this.guard(kind, fn), koffi.pointer(proto));
    const translate = (asset: unknown, pointer: unknown): Trade | null => {
      const out = { Version: 0 } as TranslatedTrade;
      const rc = dll.TranslateTrade(pointer, out);
      if (rc !== 0) throw new ProfitDllError('TranslateTrade', rc);
      const id = koffi.decode(asset, RECORDS.TConnectorAssetIdentifier) as {
        Ticker: string;
        Exchange: string;
      };
      return {
        ticker: id.Ticker,
        exchange: id.Exchange,
        ts: clock.toEpoch(out.TradeDate),
        tradeId: out.TradeNumber,
        price: out.Price,
        qty: Number(out.Quantity),
        aggressor: aggressorOf(out.TradeType),
        buyAgent: out.BuyAgent,
        sellAgent: out.SellAgent,
      };
    };
    this.callbacks = {
      state: reg('state', CALLBACKS.state, (type: number, value: number) => {
        const name = stateTypeOf(type);
        if (!name) return;
        this.enqueue(
          'state',
          (h) => h.state?.(name, value),
          () => this.noteState(name, value),
        );
      }),
      trade: reg('trade', CALLBACKS.trade, (asset: unknown, pointer: unknown, flags: number) => {
        const trade = translate(asset, pointer);
        if (trade) this.enqueue('trade', (h) => h.trade?.(trade, (flags & TC_IS_EDIT) !== 0));
      }),
      history: reg('history', CALLBACKS.trade, (asset: unknown, pointer: unknown, flags: number) => {
        const trade = translate(asset, pointer);
        if (trade) this.enqueue('history', (h) => h.history?.(trade, (flags & TC_LAST_PACKET) !== 0));
      }),
      progress: reg('progress', CALLBACKS.progress, (asset: unknown, progress: number) => {
        const { ticker } = koffi.decode(asset, RECORDS.TAssetIDRec) as { ticker: string };
        this.enqueue('progress', (h) => h.progress?.(ticker, progress));
      }),
      book: reg(
        'book',
        CALLBACKS.tinyBook,
        (asset: unknown, price: number, quantity: number, side: number) => {
          const { ticker, bolsa } = koffi.decode(asset, RECORDS.TAssetIDRec) as {
            ticker: string;
            bolsa: string;
          };
          this.enqueue('book', (h) => h.book?.(ticker, bolsa, side === 0 ? 'bid' : 'ask', price, quantity));
        },
      ),
      order: reg('order', CALLBACKS.order, (pointer: unknown) => {
        const id = koffi.decode(pointer, RECORDS.TConnectorOrderIdentifier) as OrderIdentifier;
        const order = orderDetails(dll, clock, id);
        this.enqueue('order', (h) => h.order?.(order));
      }),
      account: reg(
        'account',
        CALLBACKS.account,
        (brokerId: number, _name: string, account: string, holder: string) => {
          this.enqueue('account', (h) => h.account?.(brokerId, account, holder));
        },
      ),
    };
    return this.callbacks;
  }

  /** A callback that counts itself and never throws into the DLL. */
  private guard(kind: CallbackKind, fn: (...args: never[]) => unknown) {
    const metrics = this.opts.metrics;
    const count = metrics?.callbacks.labels({ kind });
    const seconds = metrics?.callbackSeconds.labels({ kind });
    return (...args: never[]) => {
      const started = performance.now();
      this.inCallback = true;
      try {
        fn(...args);
      } catch (err) {
        this.failed(kind, err);
      } finally {
        this.inCallback = false;
        count?.inc();
        seconds?.observe((performance.now() - started) / 1000);
      }
    };
  }

  private failed(kind: CallbackKind, err: unknown): void {
    this.callbackErrors += 1;
    this.opts.metrics?.errors.inc({ kind });
    this.opts.logger?.error(
      { event: 'profitdll.callback_failed', kind, err: (err as Error)?.message ?? String(err) },
      'a ProfitDLL callback could not be handled',
    );
  }

  /** Noted as its news is handled, so `latest` is as of the event a handler is given. */
  private noteState(type: StateType, value: number): void {
    this.latest[type] = value;
    const name = stateName(type, value);
    this.transitions.push({ at: Date.now(), type, value, name });
    if (this.transitions.length > TRANSITIONS_KEPT) this.transitions.shift();
    this.opts.metrics?.state.set({ type }, value);
    this.opts.metrics?.transitions.inc({ type, state: name });
    this.opts.logger?.info({ event: 'profitdll.state', type, value, state: name }, `ProfitDLL ${name}`);
  }

  private enqueue(kind: CallbackKind, deliver: Inbox['deliver'], note?: () => void): void {
    this.inbox.push({ at: performance.now(), kind, deliver, ...(note && { note }) });
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  /** Hands the queue to the clients, oldest first, on a turn of its own. */
  private drain(): void {
    const batch = this.inbox;
    this.inbox = [];
    this.draining = false;
    const lag = this.opts.metrics?.deliveryLag;
    const now = performance.now();
    for (const item of batch) {
      lag?.observe((now - item.at) / 1000);
      try {
        item.note?.();
      } catch (err) {
        this.failed(item.kind, err);
      }
      for (const listener of this.listeners) {
        try {
          item.deliver(listener);
        } catch (err) {
          this.failed(item.kind, err);
        }
      }
    }
  }
}

const STATE_NOT_INITIALIZED = 0x80000002 | 0;

/** A DLL function called on koffi's worker thread. */
function asyncCall<T>(fn: { async: (...args: unknown[]) => void }, ...args: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn.async(...args, (err: unknown, result: T) => (err ? reject(err as Error) : resolve(result)));
  });
}

interface TranslatedTrade {
  Version: number;
  TradeDate: SystemTime;
  TradeNumber: number;
  Price: number;
  Quantity: number | bigint;
  BuyAgent: number;
  SellAgent: number;
  TradeType: number;
}

interface OrderIdentifier {
  Version: number;
  LocalOrderID: number | bigint;
  ClOrderID: string | null;
}

/** Trade types 2 and 3 are the aggressive sides (ABI notes §5.3); the rest have none. */
function aggressorOf(type: number): Aggressor {
  return type === 2 ? 'BUY' : type === 3 ? 'SELL' : 'NONE';
}

/** GetOrderDetails in its two passes (lengths, then the strings into buffers we own). */
function orderDetails(dll: ProfitDll, clock: ExchangeClock, id: OrderIdentifier): DllOrder {
  const out = {
    Version: 1,
    OrderID: { Version: 0, LocalOrderID: id.LocalOrderID, ClOrderID: id.ClOrderID },
    AssetID: { Version: 0, Ticker: null, Exchange: null },
    TextMessage: null,
  } as unknown as OrderOut;
  check('GetOrderDetails', dll.GetOrderDetails(out));
  const ticker = Buffer.alloc((out.AssetID.TickerLength + 1) * 2);
  const exchange = Buffer.alloc((out.AssetID.ExchangeLength + 1) * 2);
  const text = Buffer.alloc((out.TextMessageLength + 1) * 2);
  out.AssetID.Ticker = ticker;
  out.AssetID.Exchange = exchange;
  out.TextMessage = text;
  check('GetOrderDetails', dll.GetOrderDetails(out));
  return decodeOrder(clock, out, {
    clOrdId: id.ClOrderID ?? '',
    account: out.AccountID.AccountID,
    subAccount: out.AccountID.SubAccountID,
    ticker: utf16(ticker),
    exchange: utf16(exchange),
    text: utf16(text),
  });
}

/** An EnumerateAllOrders record, valid during the call only. */
export function enumeratedOrder(clock: ExchangeClock, pointer: unknown): DllOrder {
  const o = koffi.decode(pointer, RECORDS.TConnectorOrder) as EnumeratedOrder;
  return decodeOrder(clock, o, {
    clOrdId: o.OrderID.ClOrderID ?? '',
    account: o.AccountID.AccountID ?? '',
    subAccount: o.AccountID.SubAccountID ?? '',
    ticker: o.AssetID.Ticker ?? '',
    exchange: o.AssetID.Exchange ?? '',
    text: o.TextMessage ?? '',
  });
}

interface OrderTail {
  Version: number;
  OrderID: OrderIdentifier;
  AccountID: { BrokerID: number };
  Quantity: number | bigint;
  TradedQuantity: number | bigint;
  LeavesQuantity: number | bigint;
  Price: number;
  StopPrice: number;
  AveragePrice: number;
  OrderSide: number;
  OrderType: number;
  OrderStatus: number;
  ValidityType: number;
  Date: SystemTime;
  LastUpdate: SystemTime;
  EventID?: number | bigint;
}
type OrderOut = OrderTail & {
  AccountID: { BrokerID: number; AccountID: string; SubAccountID: string };
  AssetID: { Ticker: unknown; TickerLength: number; Exchange: unknown; ExchangeLength: number };
  TextMessage: unknown;
  TextMessageLength: number;
};
type EnumeratedOrder = OrderTail & {
  AccountID: { BrokerID: number; AccountID: string | null; SubAccountID: string | null };
  AssetID: { Ticker: string | null; Exchange: string | null };
  TextMessage: string | null;
};

function decodeOrder(
  clock: ExchangeClock,
  o: OrderTail,
  strings: {
    clOrdId: string;
    account: string;
    subAccount: string;
    ticker: string;
    exchange: string;
    text: string;
  },
): DllOrder {
  return {
    localId: Number(o.OrderID.LocalOrderID),
    brokerId: o.AccountID.BrokerID,
    quantity: Number(o.Quantity),
    traded: Number(o.TradedQuantity),
    leaves: Number(o.LeavesQuantity),
    price: o.Price,
    stopPrice: o.StopPrice,
    averagePrice: o.AveragePrice,
    side: o.OrderSide,
    type: o.OrderType,
    status: o.OrderStatus,
    validity: o.ValidityType,
    createdAt: clock.toEpoch(o.Date),
    updatedAt: clock.toEpoch(o.LastUpdate),
    eventId: Number(o.EventID ?? 0),
    ...strings,
  };
}

function utf16(buffer: Buffer): string {
  const text = buffer.toString('utf16le');
  const end = text.indexOf('\0');
  return end < 0 ? text : text.slice(0, end);
}
