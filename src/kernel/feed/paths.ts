/** Where each service serves its feed: the producer attaches there and consumers connect there. */
export const FEED_PATHS = {
  /** data-capture's market data (trades and quotes). */
  market: '/feed/market',
  /** The order manager's journal events. */
  orders: '/feed/orders',
} as const;
