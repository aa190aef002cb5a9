import Type, { type Static } from 'typebox';
import { ORDER_STATUSES } from '../../domain/orders.js';

const strict = { additionalProperties: false } as const;

const Ticker = Type.String({ pattern: '^[A-Z0-9]{4,12}$', description: 'B3 ticker, e.g. WINZ26, PETR4' });
const Side = Type.Enum(['BUY', 'SELL']);
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' });
/** Far above any B3 order; rejects 1e308 and friends at the door. */
const Quantity = Type.Integer({ minimum: 1, maximum: 10_000_000 });
const Price = Type.Number({ exclusiveMinimum: 0, maximum: 1e9 });
const Reason = Type.String({ minLength: 1, maxLength: 500, pattern: '\\S' });

export const NewOrderBody = Type.Object(
  {
    symbol: Ticker,
    side: Side,
    type: Type.Enum(['MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT']),
    quantity: Quantity,
    price: Type.Optional(Price),
    stopPrice: Type.Optional(Price),
    timeInForce: Type.Optional(Type.Enum(['DAY', 'IOC', 'FOK', 'GTC'])),
    clientOrderId: Type.Optional(Id),
    strategyId: Type.Optional(Id),
    account: Type.Optional(Id),
  },
  strict,
);
export type NewOrderBody = Static<typeof NewOrderBody>;

export const ModifyOrderBody = Type.Object(
  { price: Type.Optional(Price), quantity: Type.Optional(Quantity) },
  { ...strict, minProperties: 1 },
);

export const OrderParams = Type.Object({ id: Id });

export const SettleOrderBody = Type.Object(
  { status: Type.Enum(['CANCELED', 'REJECTED', 'EXPIRED']), reason: Reason },
  strict,
);

export const ListOrdersQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum([...ORDER_STATUSES])),
    symbol: Type.Optional(Ticker),
    side: Type.Optional(Side),
    /** ISO-8601, on the order's creation time. */
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Integer({ minimum: 1, maximum: 1_000, default: 100 }),
    // Bounded like every number a query takes (validation.ts): 1e999 is refused, not Infinity.
    offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }),
  },
  strict,
);
export type ListOrdersQuery = Static<typeof ListOrdersQuery>;

export const CancelAllBody = Type.Object(
  {
    symbol: Type.Optional(Ticker),
    /** Only these accounts' orders; all accounts when absent. The gateway sets it for a key's accounts. */
    accounts: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 100 })),
    reason: Type.Optional(Reason),
  },
  strict,
);

export const TradingStateBody = Type.Object(
  { state: Type.Enum(['ACTIVE', 'REDUCING', 'HALTED']), reason: Reason },
  strict,
);

export const KillSwitchBody = Type.Object(
  { reason: Reason, cancelAll: Type.Optional(Type.Boolean()) },
  strict,
);
export const ReasonBody = Type.Object({ reason: Reason }, strict);

export const AuditQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000, default: 100 }),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  strict,
);

/** The original gateway's signal shape. */
export const SignalBody = Type.Object(
  {
    symbol: Ticker,
    direction: Type.Enum(['BUY', 'SELL', 'HOLD']),
    confidence: Type.Number({ minimum: 0, maximum: 1 }),
    /** Contracts or shares; default one lot of the instrument. */
    quantity: Type.Optional(Quantity),
    /** Who produced it (a model, a strategy); becomes the order's strategyId. */
    source: Id,
    /** The price the source saw; kept for the record, the order is MARKET. */
    price: Type.Optional(Price),
  },
  strict,
);
export type SignalBody = Static<typeof SignalBody>;

export const ListSignalsQuery = Type.Object(
  {
    symbol: Type.Optional(Ticker),
    limit: Type.Integer({ minimum: 1, maximum: 1_000, default: 100 }),
  },
  strict,
);
