import Type, { type Static } from 'typebox';
import { address, type ServiceConfigSection, section } from '../../kernel/config.js';

/** `services.order-manager`: orders, the account traded, strategies and signals. */
const OrderManagerConfigSchema = Type.Object(
  {
    ...address(5055),
    account: Type.String({ default: 'SIM-001' }),
    ackTimeoutMs: Type.Integer({ minimum: 100, default: 5_000 }),
    /**
     * Closed orders kept in memory besides the open ones (newest first): what
     * GET /api/orders lists. An older one is read back from the journal by id or
     * clientOrderId. About 0.7 KB each.
     */
    closedOrdersInMemory: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 10_000 }),
    enforceTradingHours: Type.Boolean({ default: false }),
    /** POST /api/signals turns BUY/SELL signals at or above the threshold into orders. */
    autoExecuteSignals: Type.Boolean({ default: true }),
    /** Also seeds the risk limit minSignalConfidence of a fresh journal. */
    signalConfidenceThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.65 }),
    /** In-process strategies to run on the live trade feed, by id (e.g. ['momentum']). */
    strategies: Type.Array(Type.String(), { default: [] }),
    momentum: Type.Object(
      {
        /** Same-direction price moves in a row that trigger an order. */
        consecutiveTrades: Type.Integer({ minimum: 2, maximum: 1_000, default: 3 }),
        /** Per symbol, after an order. */
        cooldownMs: Type.Integer({ minimum: 0, default: 1_000 }),
        /** Largest net position the strategy builds per symbol, in lots. */
        maxPositionLots: Type.Integer({ minimum: 1, default: 1 }),
        /** Symbols traded; empty = every symbol on the feed. */
        symbols: Type.Array(Type.String({ pattern: '^[A-Z0-9]{4,12}$' }), { default: [] }),
      },
      section,
    ),
  },
  section,
);

declare module '../../kernel/config.js' {
  interface ServiceConfigs {
    'order-manager': Static<typeof OrderManagerConfigSchema>;
  }
}

export const orderManagerConfig: ServiceConfigSection = {
  schema: OrderManagerConfigSchema,
};
