import Type, { type Static } from 'typebox';

/**
 * What the gateway itself checks and documents. Upstreams stay the judges of their own inputs
 * (query fields, body fields): these schemas name the fields without repeating their rules.
 */
/**
 * The largest `limit` each list accepts, the same as its upstream's: refused here with 400 naming
 * the field, before any upstream reads that many rows.
 */
export const MAX_LIMIT = { trades: 10_000, orders: 1_000, ideas: 1_000, docs: 50 } as const;
const limitUpTo = (maximum: number) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum, description: `at most ${maximum}` }));

const Ticker = Type.String({ pattern: '^[A-Z0-9]{4,12}$', description: 'B3 ticker, e.g. WINZ26, PETR4' });
const Time = Type.String({ description: 'ISO-8601 or epoch milliseconds' });

export const TradesQuery = Type.Object({
  ticker: Ticker,
  from: Type.Optional(Time),
  to: Type.Optional(Time),
  limit: limitUpTo(MAX_LIMIT.trades),
  order: Type.Optional(Type.Enum(['asc', 'desc'])),
});

export const BarsQuery = Type.Object({
  ticker: Ticker,
  interval: Type.Enum(['1m', '5m', '15m', '1h', '1d']),
  from: Type.Optional(Time),
  to: Type.Optional(Time),
  limit: limitUpTo(MAX_LIMIT.trades),
});

export const GapsQuery = Type.Object({
  state: Type.Optional(Type.Enum(['open', 'filled', 'skipped'])),
  ticker: Type.Optional(Ticker),
});

export const SubscriptionBody = Type.Object({ ticker: Ticker }, { additionalProperties: false });
export const TickerParams = Type.Object({ ticker: Ticker });

export const IdeasQuery = Type.Object({
  status: Type.Optional(Type.String()),
  category: Type.Optional(Type.String()),
  priority: Type.Optional(Type.String()),
  tag: Type.Optional(Type.String()),
  q: Type.Optional(Type.String()),
  limit: limitUpTo(MAX_LIMIT.ideas),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  sort: Type.Optional(Type.String()),
});
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });

/** Passed to the idea bank, which judges it (1–64 of A–Z a–z 0–9 . _ : -). */
export const IdeaCreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        'Makes a retried create safe: the same key with the same body answers 200 with the idea the ' +
        'first request created; with another body, 422 IDEMPOTENCY_KEY_REUSED. Kept 24 h. ' +
        '1–64 characters of A–Z a–z 0–9 . _ : - (a UUID fits).',
    }),
  ),
});

/** A JSON object; its fields are validated by the upstream that owns them. */
export const JsonObject = Type.Record(Type.String(), Type.Unknown(), {
  description: 'a JSON object, validated by the upstream service',
});

export const DocsListQuery = Type.Object({
  domain: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  tag: Type.Optional(Type.String()),
  status: Type.Optional(Type.String()),
});
export const DocsSearchQuery = Type.Object({
  q: Type.String({ minLength: 1 }),
  limit: limitUpTo(MAX_LIMIT.docs),
});

const Side = Type.Enum(['BUY', 'SELL']);
const Limit = limitUpTo(MAX_LIMIT.orders);

export const OrdersQuery = Type.Object({
  status: Type.Optional(Type.String()),
  symbol: Type.Optional(Ticker),
  side: Type.Optional(Side),
  from: Type.Optional(Type.String({ description: 'ISO-8601, on the creation time' })),
  to: Type.Optional(Type.String({ description: 'ISO-8601, on the creation time' })),
  limit: Limit,
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
});
export const SignalsQuery = Type.Object({ symbol: Type.Optional(Ticker), limit: Limit });
export const AuditQuery = Type.Object({ limit: Limit, action: Type.Optional(Type.String()) });
export const SymbolParams = Type.Object({ symbol: Ticker });
export const PositionQuery = Type.Object({
  account: Type.Optional(Type.String({ description: 'needed only when several accounts hold the symbol' })),
});

/**
 * The original gateway's order body: the gateway's own contract, so it is checked here in full.
 * No defaults: strict validation would write them into the body.
 */
export const ExecuteBody = Type.Object(
  {
    symbol: Ticker,
    side: Side,
    quantity: Type.Integer({ minimum: 1 }),
    price: Type.Union([Type.Literal(-1), Type.Number({ exclusiveMinimum: 0 })], {
      description: 'the limit price, or -1 for a market order',
    }),
    orderType: Type.Optional(Type.Enum(['MARKET', 'LIMIT'], { description: 'default LIMIT' })),
  },
  { additionalProperties: false },
);
export type ExecuteBody = Static<typeof ExecuteBody>;
