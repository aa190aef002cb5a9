import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/logger.js';
import { Registry } from '../../kernel/metrics.js';
import type { MarketDataClient } from '../../ports/broker.js';
import { BrokerSession } from './broker-session.js';
import { createCaptureMetrics } from './metrics.js';

const logger = pino({ level: 'silent' }) as unknown as Logger;

describe('data-capture metrics', () => {
  it('counts every reconnect attempt of the broker session', async () => {
    const registry = new Registry();
    const metrics = createCaptureMetrics(registry);
    // A broker that takes the connect call and never reports a connection.
    const adapter = { connect: async () => {}, disconnect: async () => {} } as unknown as MarketDataClient;
    const session = new BrokerSession({
      adapter,
      policy: {
        reconnectAttempts: 3,
        reconnectIntervalMs: 10,
        stallAfterMs: 60_000,
        escalateAfterMs: 60_000,
      },
      clock: systemClock,
      logger,
      subscriptions: () => [],
      marketOpen: () => true,
      onReconnect: () => metrics.reconnects.inc(),
    });
    await session.start();
    try {
      session.handleEvent({ type: 'market', state: 'disconnected' });
      const deadline = Date.now() + 2_000;
      while ((await metrics.reconnects.get()).values[0]?.value !== 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      expect((await metrics.reconnects.get()).values[0]?.value).toBeGreaterThanOrEqual(2);
      expect(await registry.metrics()).toContain('tradingsystem_data_capture_broker_reconnects_total');
    } finally {
      await session.stop();
    }
  });

  it('starts every callback kind and result at 0, so the error rate is 0 before the first error', async () => {
    const registry = new Registry();
    createCaptureMetrics(registry);
    const text = await registry.metrics();
    for (const kind of ['trade', 'quote'])
      for (const result of ['ok', 'error'])
        expect(text).toContain(
          `tradingsystem_data_capture_callbacks_total{kind="${kind}",result="${result}"} 0`,
        );
  });
});
