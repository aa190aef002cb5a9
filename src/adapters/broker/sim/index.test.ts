import { describe, expect, it } from 'vitest';
import { DEFAULT_INSTRUMENTS } from '../../../kernel/config.js';
import { createSimBroker, simOptionsFromConfig } from './index.js';

describe('simulator from config', () => {
  const config = {
    timezone: 'America/Sao_Paulo',
    instruments: DEFAULT_INSTRUMENTS,
    sim: {
      seed: 5,
      tradesPerSecond: 20,
      burstFactor: 3,
      realHours: true,
      closeAt: '2026-03-16T15:00:00-03:00',
      closedOrdersInMemory: 1_000,
    },
  };

  it('maps the sim section, reading closeAt as an instant', () => {
    expect(simOptionsFromConfig(config)).toEqual({
      seed: 5,
      closedOrdersInMemory: 1_000,
      tradesPerSecond: 20,
      burstFactor: 3,
      realHours: true,
      instruments: DEFAULT_INSTRUMENTS,
      timeZone: 'America/Sao_Paulo',
      closeAt: Date.parse('2026-03-16T18:00:00Z'),
    });
  });

  it('builds an adapter whose tape ends at closeAt', () => {
    const broker = createSimBroker(config);
    expect(broker.name).toBe('sim');
    expect(broker.tape.isOpen('WINZ26', Date.parse('2026-03-16T17:59:59Z'))).toBe(true);
    expect(broker.tape.isOpen('WINZ26', Date.parse('2026-03-16T18:00:00Z'))).toBe(false);
  });
});
