import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BrokerAdapter } from '../../adapters/broker/types.js';
import { systemClock } from '../../kernel/clock.js';
import type { OrderEngine } from './engine.js';
import type { OrderManagerMetrics } from './metrics.js';
import { Reconciler } from './reconcile.js';

/** A reconciler over an empty book: each full run asks the broker for its reports once. */
function reconciler(committedSeq: () => number) {
  let runs = 0;
  const engine = { state: { open: new Map(), orders: new Map() }, reconciling: false, routingUp: true };
  const broker = {
    orderReports: async () => {
      runs++;
      return [];
    },
    positions: async () => [],
  };
  const r = new Reconciler({
    engine: engine as unknown as OrderEngine,
    broker: broker as unknown as BrokerAdapter,
    account: 'SIM-001',
    timeZone: 'America/Sao_Paulo',
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    metrics: { reconcileMismatches: { inc() {} } } as unknown as OrderManagerMetrics,
    committedSeq,
  });
  return { r, runs: () => runs };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Reconciler after failed commits', () => {
  it('runs at once after a failed commit, then backs off (1 s doubling) while commits keep failing', async () => {
    vi.useFakeTimers();
    const { r, runs } = reconciler(() => 10); // no commit succeeds
    r.afterFailedCommit();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs()).toBe(1);
    // A storm of failures (each order, each run's own events): at most one run waits.
    for (let i = 0; i < 50; i++) r.afterFailedCommit();
    await vi.advanceTimersByTimeAsync(999);
    expect(runs()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs()).toBe(2);
    r.afterFailedCommit();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(runs()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs()).toBe(3);
    // Ten seconds of failures run it a handful of times, not hundreds.
    for (let t = 0; t < 10_000; t += 100) {
      r.afterFailedCommit();
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(runs()).toBeLessThanOrEqual(6);
    r.stop();
  });

  it('starts over once a commit has succeeded in between', async () => {
    vi.useFakeTimers();
    let seq = 10;
    const { r, runs } = reconciler(() => seq);
    r.afterFailedCommit();
    r.afterFailedCommit();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs()).toBe(2);
    seq = 11; // a commit went through: the next failure is a new one, reconciled at once
    r.afterFailedCommit();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs()).toBe(3);
    r.stop();
  });
});
