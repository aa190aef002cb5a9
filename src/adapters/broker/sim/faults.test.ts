import { describe, expect, it } from 'vitest';
import { SLOW_CALLBACK_DELAY_MS } from './live-feed.js';
import { connectFully, manualSim, T0, turns } from './test-support.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SimBrokerAdapter faults', () => {
  it('disconnect: drops the connection, refuses to reconnect while active, then recovers', async () => {
    const { adapter, recorder, advance, clock } = manualSim();
    await adapter.subscribeTrades('WINZ26', 'F');
    await connectFully(adapter, recorder);
    advance(1_000);
    const beforeDrop = recorder.trades.length;

    adapter.injectFault('disconnect', 5_000);
    await turns();
    expect(recorder.events.slice(-2)).toEqual([
      { type: 'market', state: 'disconnected' },
      { type: 'routing', connected: false },
    ]);
    advance(2_000);
    expect(recorder.trades).toHaveLength(beforeDrop);

    recorder.events.length = 0;
    await adapter.connect();
    await turns();
    expect(recorder.events).toEqual([
      { type: 'market', state: 'connecting' },
      { type: 'market', state: 'disconnected' },
    ]);

    advance(3_000); // the fault is over
    expect(adapter.activeFaults()).toEqual([]);
    await connectFully(adapter, recorder);
    const reconnectedAt = clock.now();
    advance(1_000);
    const resumed = recorder.trades.slice(beforeDrop);
    expect(resumed[0]?.tradeId).toBe(adapter.tape.tradeCount('WINZ26', reconnectedAt) + 1);
  });

  it('disconnect without a duration lasts until cleared', async () => {
    const { adapter, recorder, advance } = manualSim();
    await connectFully(adapter, recorder);
    adapter.injectFault('disconnect');
    await turns();
    advance(86_400_000);
    expect(adapter.activeFaults()).toEqual([{ kind: 'disconnect', until: null }]);
    adapter.clearFaults();
    await connectFully(adapter, recorder);
  });

  it('stall: stays connected, delivers nothing, and the trades printed meanwhile are missed live', async () => {
    const { adapter, recorder, advance, clock } = manualSim();
    await adapter.subscribeTrades('PETR4', 'B');
    await connectFully(adapter, recorder);
    advance(1_000);
    const beforeStall = recorder.trades.length;
    adapter.injectFault('stall', 3_000);
    expect(adapter.activeFaults()).toEqual([{ kind: 'stall', until: clock.now() + 3_000 }]);
    const stallEnd = clock.now() + 3_000;
    advance(1_500);
    advance(1_000);
    expect(recorder.trades).toHaveLength(beforeStall);
    expect(recorder.events.at(-1)).toEqual({ type: 'market', state: 'connected' });
    advance(1_500); // past the end: resumes with what printed from the end of the stall on
    const resumed = recorder.trades.slice(beforeStall);
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed[0]?.tradeId).toBe(adapter.tape.tradeCount('PETR4', stallEnd - 1) + 1);
    expect(resumed).toEqual(adapter.tape.tradesBetween('PETR4', stallEnd - 1, clock.now()));
  });

  it('slow-callbacks: delivers late, in a burst, in order', async () => {
    const { adapter, recorder, advance, clock } = manualSim();
    await adapter.subscribeTrades('WINZ26', 'F');
    await connectFully(adapter, recorder);
    const from = clock.now();
    adapter.injectFault('slow-callbacks');
    advance(500);
    advance(500);
    expect(recorder.trades).toEqual([]);
    await sleep(SLOW_CALLBACK_DELAY_MS + 30);
    expect(recorder.trades).toEqual(adapter.tape.tradesBetween('WINZ26', from, clock.now()));
    adapter.clearFaults();
    advance(500);
    expect(recorder.trades).toEqual(adapter.tape.tradesBetween('WINZ26', from, clock.now()));
  });

  it('login-fail: refuses the credentials while active', async () => {
    const { adapter, recorder } = manualSim();
    adapter.injectFault('login-fail', 60_000);
    await adapter.connect();
    await turns();
    expect(recorder.events).toEqual([{ type: 'login', ok: false, reason: 'invalid password' }]);
    adapter.clearFaults();
    await connectFully(adapter, recorder);
  });

  it('reject-orders: rejects every new order with a reason', async () => {
    const { adapter, recorder } = manualSim();
    await connectFully(adapter, recorder);
    adapter.injectFault('reject-orders', 1_000);
    const { brokerOrderId } = await adapter.sendOrder({
      clientOrderId: 'c1',
      account: 'SIM-001',
      symbol: 'WINZ26',
      exchange: 'F',
      side: 'BUY',
      type: 'MARKET',
      quantity: 1,
      timeInForce: 'DAY',
    });
    await turns();
    expect(recorder.updates).toEqual([
      {
        clientOrderId: 'c1',
        brokerOrderId,
        status: 'REJECTED',
        ts: T0,
        filledQty: 0,
        leavesQty: 0,
        reason: 'simulated reject',
      },
    ]);
  });

  it('refuses a fault it does not know or a non-positive duration', () => {
    const { adapter } = manualSim();
    expect(() => adapter.injectFault('stall', 0)).toThrow(/positive/);
    expect(() => adapter.injectFault('meteor' as 'stall')).toThrow(/unknown fault/);
  });
});
