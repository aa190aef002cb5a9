import { describe, expect, it } from 'vitest';
import { check, codeName, ProfitDllError, stateName } from './codes.js';

describe('ProfitDLL result codes', () => {
  it('names every code of the notes and says what a caller can do', () => {
    const invalid = new ProfitDllError('SendOrder', -2147483645);
    expect(invalid.code).toBe('NL_INVALID_ARGS');
    expect(invalid.failure).toBe('refused');
    expect(invalid.message).toBe('ProfitDLL SendOrder: NL_INVALID_ARGS (invalid arguments)');
    expect(new ProfitDllError('x', -2147483644).failure).toBe('retry');
    expect(new ProfitDllError('x', -2147483646).failure).toBe('reconnect');
    expect(new ProfitDllError('x', -2147483638).failure).toBe('unlicensed');
    expect(codeName(-2147483602)).toBe('NL_HISTORY_PERIOD_LIMIT');
    expect(codeName(-5)).toBe('NL_UNKNOWN_-5');
    expect(codeName(0)).toBe('NL_OK');
  });

  it('passes ids and counts through and throws on a negative result (an int64 one too)', () => {
    expect(check('SendOrder', 42n)).toBe(42);
    expect(check('GetAccountCount', 0)).toBe(0);
    expect(() => check('SendOrder', -2147483636n)).toThrow(/NL_NOT_FOUND/);
  });

  it('names states, and values the notes do not list', () => {
    expect(stateName('market', 6)).toBe('MARKET_PARTIAL_CONNECTED');
    expect(stateName('routing', 5)).toBe('ROTEAMENTO_BROKER_CONNECTED');
    expect(stateName('login', 9)).toBe('LOGIN_9');
  });
});
