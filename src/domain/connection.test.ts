import { describe, expect, it } from 'vitest';
import { type ConnectionInput, type ConnectionState, nextState } from './connection.js';

const run = (inputs: ConnectionInput[], from: ConnectionState = 'Disconnected') =>
  inputs.reduce(nextState, from);

describe('connection state machine', () => {
  it('walks the happy path to Active', () => {
    const seen: ConnectionState[] = [];
    let s: ConnectionState = 'Disconnected';
    for (const input of [
      { type: 'connect' },
      { type: 'connecting' },
      { type: 'login', ok: true },
      { type: 'market', state: 'connecting' },
      { type: 'market', state: 'connected' },
      { type: 'subscribing' },
      { type: 'subscribed' },
    ] as ConnectionInput[]) {
      s = nextState(s, input);
      seen.push(s);
    }
    expect(seen).toEqual([
      'Initializing',
      'Authenticating',
      'BrokerConnected',
      'MarketConnecting',
      'FullyConnected',
      'SubscribingTickers',
      'Active',
    ]);
  });

  it('goes to InvalidCredentials on a refused login and stays there until a new connect', () => {
    const s = run([{ type: 'connect' }, { type: 'connecting' }, { type: 'login', ok: false }]);
    expect(s).toBe('InvalidCredentials');
    expect(nextState(s, { type: 'market', state: 'connected' })).toBe('InvalidCredentials');
    expect(nextState(s, { type: 'gave-up' })).toBe('InvalidCredentials');
    expect(nextState(s, { type: 'connect' })).toBe('Initializing');
  });

  it('degrades on a stall and recovers when data flows again', () => {
    expect(run([{ type: 'stalled' }], 'Active')).toBe('Degraded');
    expect(run([{ type: 'stalled' }, { type: 'data' }], 'Active')).toBe('Active');
    expect(run([{ type: 'stalled' }], 'SubscribingTickers')).toBe('SubscribingTickers');
  });

  it('drops to Disconnected when the market connection goes, and Degraded when reconnects are exhausted', () => {
    expect(run([{ type: 'market', state: 'disconnected' }], 'Active')).toBe('Disconnected');
    expect(run([{ type: 'market', state: 'disconnected' }, { type: 'gave-up' }], 'Active')).toBe('Degraded');
    expect(run([{ type: 'market', state: 'not-logged' }], 'MarketConnecting')).toBe('MarketNotLogged');
  });

  it('resubscribes from Active or Degraded after a reconnect', () => {
    expect(run([{ type: 'subscribing' }, { type: 'subscribed' }], 'Degraded')).toBe('Active');
  });
});
