import type { Config } from '../../../kernel/config.js';
import { SimBrokerAdapter, type SimBrokerOptions } from './sim-adapter.js';

export { type ActiveFault, FAULT_KINDS, type FaultKind } from './faults.js';
export { SLOW_CALLBACK_DELAY_MS } from './live-feed.js';
export type { OrderChange } from './order-rules.js';
export { SimBrokerAdapter, type SimBrokerOptions } from './sim-adapter.js';
export { type SessionWindow, Tape, type TapeOptions } from './tape.js';
export { VenueUnavailableError } from './venue-store.js';

/** The simulator's options from the validated config (`sim`, `instruments`, `timezone`). */
export function simOptionsFromConfig(
  config: Pick<Config, 'sim' | 'instruments' | 'timezone'>,
): SimBrokerOptions {
  const { seed, tradesPerSecond, burstFactor, realHours, openAt, closeAt, closedOrdersInMemory } = config.sim;
  return {
    seed,
    closedOrdersInMemory,
    tradesPerSecond,
    burstFactor,
    realHours,
    instruments: config.instruments,
    timeZone: config.timezone,
    ...(openAt !== undefined ? { openAt: Date.parse(openAt) } : {}),
    ...(closeAt !== undefined ? { closeAt: Date.parse(closeAt) } : {}),
  };
}

/** The embedded default broker, built from config. */
export function createSimBroker(
  config: Pick<Config, 'sim' | 'instruments' | 'timezone'>,
  overrides: Partial<SimBrokerOptions> = {},
): SimBrokerAdapter {
  return new SimBrokerAdapter({ ...simOptionsFromConfig(config), ...overrides });
}
