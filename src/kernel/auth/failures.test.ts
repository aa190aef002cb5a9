import { describe, expect, it } from 'vitest';
import { AuthGuard, Gate, VerifyBusyError } from './failures.js';

const deferred = <T>() => {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

describe('AuthGuard', () => {
  it('counts an attempt before it is verified, so parallel guesses cannot pass the limit', async () => {
    const guard = new AuthGuard({ failuresPerMinute: 3, concurrentPerIp: 100 });
    const gates = Array.from({ length: 10 }, () => deferred<null>());
    const outcomes = gates.map((g, i) => guard.attempt('1.2.3.4', `guess-${i}`, () => g.promise));
    for (const g of gates) g.resolve(null);
    const reasons = (await Promise.all(outcomes)).map((o) => (o.ok ? 'ok' : o.reason));
    expect(reasons.filter((r) => r === 'failed')).toHaveLength(3);
    expect(reasons.filter((r) => r === 'blocked')).toHaveLength(7);
  });

  it('refunds a success, shares one verification for the same credential, and caps distinct ones per IP', async () => {
    const guard = new AuthGuard({ failuresPerMinute: 2, concurrentPerIp: 2 });
    let calls = 0;
    const gate = deferred<string>();
    const verify = () => {
      calls++;
      return gate.promise;
    };
    const same = [1, 2, 3, 4].map(() => guard.attempt('ip', 'good', verify));
    const other = guard.attempt('ip', 'other', () => new Promise<null>(() => {}));
    expect((await guard.attempt('ip', 'third', verify)).ok).toBe(false); // two distinct in flight
    gate.resolve('identity');
    for (const o of await Promise.all(same)) expect(o).toEqual({ ok: true, value: 'identity' });
    expect(calls).toBe(1);
    void other;
    // Successes were refunded: only the still-pending 'other' counts.
    expect(guard.blockedFor('ip')).toBe(0);
  });

  it('answers busy, and refunds, when the store has no slot', async () => {
    const guard = new AuthGuard({ failuresPerMinute: 1, concurrentPerIp: 4 });
    const busy = await guard.attempt('ip', 'k', () => Promise.reject(new VerifyBusyError()));
    expect(busy).toEqual({ ok: false, reason: 'busy', retryAfter: 1 });
    expect(guard.blockedFor('ip')).toBe(0);
  });
});

describe('Gate', () => {
  it('runs at most `concurrency` tasks, queues `queue`, and refuses the rest at once', async () => {
    const gate = new Gate(2, 1);
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const task = () =>
      new Promise<void>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        release.push(() => {
          running--;
          resolve();
        });
      });
    const runs = [gate.run(task), gate.run(task), gate.run(task)];
    await new Promise((r) => setTimeout(r, 1));
    expect(running).toBe(2); // the third waits in the queue
    await expect(gate.run(task)).rejects.toBeInstanceOf(VerifyBusyError);
    for (const r of release.splice(0)) r();
    await new Promise((r) => setTimeout(r, 1));
    expect(running).toBe(1); // the queued one got a freed slot
    for (const r of release.splice(0)) r();
    await Promise.all(runs);
    expect(peak).toBe(2);
  });
});
