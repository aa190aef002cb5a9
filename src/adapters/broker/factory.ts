import type { Clock } from '../../kernel/clock.js';
import type { Config } from '../../kernel/config.js';
import type { Logger } from '../../kernel/logger.js';
import type { Registry } from '../../kernel/metrics.js';
import type { ExecutionClient, MarketDataClient } from '../../ports/broker.js';
import { createProfitDllBroker } from './profitdll/index.js';
import { createSimBroker, type FaultKind } from './sim/index.js';

/** What only the simulator offers: ground truth and fault injection, for tests and drills. */
export interface SimControls {
  truth(
    symbols: string[],
    now: number,
  ): { asOf: string; instruments: Record<string, { lastTradeId: number; ts: string } | null> };
  injectFault(kind: FaultKind, durationMs?: number): void;
  clearFaults(): void;
  activeFaults(): unknown[];
}

export interface Broker {
  /** The two sides of one broker session; each process uses the one it needs. */
  marketData: MarketDataClient;
  execution: ExecutionClient;
  sim: SimControls | null;
  /** What the broker library itself reports (ProfitDLL: its own states), for `check-connection`. */
  library: (() => BrokerLibraryStatus) | null;
  /** Whether the exchange is trading a symbol now (a silent feed is a stall only then). */
  marketOpen(symbol: string, now: number): boolean;
}

/** A broker library's own view of its connection, beside our state machine's. */
export interface BrokerLibraryStatus {
  name: string;
  /** The library's latest value per state type, by its own names (e.g. `market: MARKET_CONNECTED`). */
  states: Record<string, string | null>;
  /** Its recent state reports, oldest first (ISO-8601 times). */
  transitions: { at: string; type: string; state: string }[];
  callbackErrors: number;
}

export interface BrokerOptions {
  /** The simulated venue's file: routing processes pass it so orders and fills survive restarts. */
  venueFile?: string;
  /** ProfitDLL: where routing keeps which of the DLL's orders are ours. */
  orderLinksFile?: string;
  logger?: Logger;
  registry?: Registry;
}

/** The configured broker adapter: the simulator (default) or ProfitDLL; replay is not built yet. */
export function createBroker(config: Config, clock: Clock, opts: BrokerOptions = {}): Broker {
  const kind = config.services['data-capture'].broker;
  if (kind === 'profitdll') {
    const { marketData, execution, marketOpen, session } = createProfitDllBroker(config, opts);
    return { marketData, execution, marketOpen, sim: null, library: () => session.describe() };
  }
  if (kind !== 'sim') {
    throw new Error(
      `services.data-capture.broker '${kind}' is not available in this build yet; use 'sim' or 'profitdll'`,
    );
  }
  const sim = createSimBroker(config, {
    clock,
    ...(opts.venueFile !== undefined ? { venueFile: opts.venueFile } : {}),
  });
  return {
    marketData: sim,
    execution: sim,
    library: null,
    marketOpen: (symbol, now) => sim.tape.isOpen(symbol, now),
    sim: {
      truth: (symbols, now) => ({
        asOf: new Date(now).toISOString(),
        instruments: Object.fromEntries(
          symbols.map((s) => {
            const last = sim.tape.lastTradeAt(s, now);
            return [s, last && { lastTradeId: last.tradeId, ts: new Date(last.ts).toISOString() }];
          }),
        ),
      }),
      injectFault: (kind, ms) => sim.injectFault(kind, ms),
      clearFaults: () => sim.clearFaults(),
      activeFaults: () => sim.activeFaults(),
    },
  };
}
