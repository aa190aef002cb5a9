import Type, { type Static } from 'typebox';
import { address, type ServiceConfigSection, section } from '../../kernel/config.js';

/**
 * `services.data-capture`: the capture of market data: where it listens, the broker, the journal,
 * recovery and Parquet.
 */
const DataCaptureConfigSchema = Type.Object(
  {
    ...address(5050),
    broker: Type.Enum(['sim', 'replay', 'profitdll'], { default: 'sim' }),
    /** Tickers subscribed at start (more via POST /api/subscriptions, kept in the data home). */
    subscriptions: Type.Array(Type.String({ pattern: '^[A-Z0-9]{4,12}$' }), {
      default: ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3'],
    }),
    journal: Type.Object(
      {
        fsyncIntervalMs: Type.Integer({ minimum: 1, maximum: 50, default: 50 }),
        segmentMaxAgeMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 60_000 }),
        segmentMaxBytes: Type.Integer({ minimum: 4096, default: 64 * 1024 * 1024 }),
        /** Sealed segments already in Parquet are kept this long for feed resume, then deleted. */
        keepConvertedHours: Type.Integer({ minimum: 1, default: 48 }),
      },
      section,
    ),
    recovery: Type.Object(
      {
        reconnectAttempts: Type.Integer({ minimum: 1, default: 3 }),
        reconnectIntervalMs: Type.Integer({ minimum: 10, default: 5_000 }),
        /**
         * Connected but no data (no trade, no book change on any subscription) for this long while
         * the market is open: degraded and reconnected. A live B3 feed of the liquid instruments
         * is never silent for seconds; raise it for a watch list of illiquid ones only.
         */
        stallAfterMs: Type.Integer({ minimum: 100, default: 5_000 }),
        /** Degraded (or not connected) for longer than this: escalate. */
        escalateAfterMs: Type.Integer({ minimum: 100, default: 60_000 }),
      },
      section,
    ),
    parquetRetentionDays: Type.Integer({ minimum: 1, default: 90 }),
    /**
     * Trades journaled but not yet in Parquet that queries see, held in memory (~200 bytes each).
     * While Parquet lags further behind (a backlog after a restart, conversion paused on a full
     * disk), the newest trades become queryable as they convert; the journal has them all.
     */
    queryTailMaxTrades: Type.Integer({ minimum: 1_000, default: 1_000_000 }),
    /** On a first start mid-session, how much of the session's earlier trades to fetch from history. */
    initialBackfillMinutes: Type.Integer({ minimum: 0, default: 10 }),
  },
  section,
);

declare module '../../kernel/config.js' {
  interface ServiceConfigs {
    'data-capture': Static<typeof DataCaptureConfigSchema>;
  }
}

export const dataCaptureConfig: ServiceConfigSection = {
  schema: DataCaptureConfigSchema,
};
