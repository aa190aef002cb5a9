/**
 * ProfitDLL's result codes and connection states (ABI notes §2 and §4), and the one error type a
 * failed DLL call becomes. NResult codes are HRESULT-style negatives from 0x80000001; order
 * functions return a positive id instead of NL_OK.
 */

/** Every NL_* code by its value, with what it means to a person reading a log. */
const NL_CODES: Record<number, { name: string; meaning: string }> = {};
const define = (hex: number, name: string, meaning: string) => {
  NL_CODES[hex | 0] = { name, meaning };
};
define(0x80000001, 'NL_INTERNAL_ERROR', 'internal error in the DLL');
define(0x80000002, 'NL_NOT_INITIALIZED', 'the DLL is not initialized');
define(0x80000003, 'NL_INVALID_ARGS', 'invalid arguments');
define(0x80000004, 'NL_WAITING_SERVER', 'waiting for the server; try again later');
define(0x80000005, 'NL_NO_LOGIN', 'not logged in');
define(0x80000006, 'NL_NO_LICENSE', 'no license');
define(0x80000007, 'NL_PASSWORD_HASH_SHA1', 'password hash (SHA-1) refused');
define(0x80000008, 'NL_PASSWORD_HASH_MD5', 'password hash (MD5) refused');
define(0x80000009, 'NL_OUT_OF_RANGE', 'out of range');
define(0x8000000a, 'NL_MARKET_ONLY', 'the session has no routing (market data only)');
define(0x8000000b, 'NL_NO_POSITION', 'no position');
define(0x8000000c, 'NL_NOT_FOUND', 'not found');
define(0x8000000d, 'NL_VERSION_NOT_SUPPORTED', 'record version not supported');
define(0x8000000e, 'NL_OCO_NO_RULES', 'OCO order without rules');
define(0x8000000f, 'NL_EXCHANGE_UNKNOWN', 'unknown exchange');
define(0x80000010, 'NL_NO_OCO_DEFINED', 'no OCO defined');
define(0x80000011, 'NL_INVALID_SERIE', 'invalid series');
define(0x80000012, 'NL_LICENSE_NOT_ALLOWED', 'not allowed by the license');
define(0x80000013, 'NL_NOT_HARD_LOGOUT', 'not a hard logout');
define(0x80000014, 'NL_SERIE_NO_HISTORY', 'series has no history');
define(0x80000015, 'NL_ASSET_NO_DATA', 'asset has no data');
define(0x80000016, 'NL_SERIE_NO_DATA', 'series has no data');
define(0x80000017, 'NL_HAS_STRATEGY_RUNNING', 'a strategy is running');
define(0x80000018, 'NL_SERIE_NO_MORE_HISTORY', 'series has no more history');
define(0x80000019, 'NL_SERIE_MAX_COUNT', 'series count limit reached');
define(0x8000001a, 'NL_DUPLICATE_RESOURCE', 'duplicate resource');
define(0x8000001b, 'NL_UNSIGNED_CONTRACT', 'the contract is not signed');
define(0x8000001c, 'NL_NO_PASSWORD', 'no password');
define(0x8000001d, 'NL_NO_USER', 'no user');
define(0x8000001e, 'NL_FILE_ALREADY_EXISTS', 'file already exists');
define(0x8000001f, 'NL_INVALID_TICKER', 'invalid ticker');
define(0x80000020, 'NL_NOT_MASTER_ACCOUNT', 'not a master account');
define(0x8000002e, 'NL_HISTORY_PERIOD_LIMIT', 'history older than the DLL serves (30 days)');

/**
 * What a caller can do about a failed call: `retry` later (the server is busy), `reconnect` (the
 * session is gone), `refused` (these arguments will never work), `unlicensed` (ask Nelogica).
 */
export type ProfitDllFailure = 'retry' | 'reconnect' | 'refused' | 'unlicensed' | 'internal';

const FAILURE_OF: Record<string, ProfitDllFailure> = {
  NL_WAITING_SERVER: 'retry',
  NL_NOT_INITIALIZED: 'reconnect',
  NL_NO_LOGIN: 'reconnect',
  NL_NO_LICENSE: 'unlicensed',
  NL_LICENSE_NOT_ALLOWED: 'unlicensed',
  NL_MARKET_ONLY: 'unlicensed',
  NL_UNSIGNED_CONTRACT: 'unlicensed',
  NL_INTERNAL_ERROR: 'internal',
};

/** A DLL call that did not succeed, named by its NL code. */
export class ProfitDllError extends Error {
  /** `NL_INVALID_ARGS`…, or `NL_UNKNOWN_<value>` for a code the notes do not list. */
  readonly code: string;
  readonly result: number;
  readonly failure: ProfitDllFailure;
  constructor(call: string, result: number) {
    const known = NL_CODES[result | 0];
    const code = known?.name ?? `NL_UNKNOWN_${result}`;
    super(`ProfitDLL ${call}: ${code} (${known?.meaning ?? 'code not in the DLL notes'})`);
    this.name = 'ProfitDllError';
    this.code = code;
    this.result = result;
    this.failure = FAILURE_OF[code] ?? 'refused';
  }
}

/** The code's name, e.g. `NL_INVALID_ARGS`; `NL_OK` for 0. */
export function codeName(result: number): string {
  if (result === 0) return 'NL_OK';
  return NL_CODES[result | 0]?.name ?? `NL_UNKNOWN_${result}`;
}

/** Throws ProfitDllError for a negative result; returns a non-negative one (a count, an id). */
export function check(call: string, result: number | bigint): number {
  const n = Number(result);
  if (n < 0) throw new ProfitDllError(call, n);
  return n;
}

/** The state callback's types (ABI notes §4). */
export const STATE_TYPE = { login: 0, routing: 1, market: 2, activation: 3 } as const;
export type StateType = keyof typeof STATE_TYPE;

const STATE_NAMES: Record<StateType, Record<number, string>> = {
  login: {
    0: 'LOGIN_CONNECTED',
    1: 'LOGIN_INVALID',
    2: 'LOGIN_INVALID_PASS',
    3: 'LOGIN_BLOCKED_PASS',
    4: 'LOGIN_EXPIRED_PASS',
    200: 'LOGIN_UNKNOWN_ERR',
  },
  routing: {
    0: 'ROTEAMENTO_DISCONNECTED',
    1: 'ROTEAMENTO_CONNECTING',
    2: 'ROTEAMENTO_CONNECTED',
    3: 'ROTEAMENTO_BROKER_DISCONNECTED',
    4: 'ROTEAMENTO_BROKER_CONNECTING',
    5: 'ROTEAMENTO_BROKER_CONNECTED',
  },
  market: {
    0: 'MARKET_DISCONNECTED',
    1: 'MARKET_CONNECTING',
    2: 'MARKET_WAITING',
    3: 'MARKET_NOT_LOGGED',
    4: 'MARKET_CONNECTED',
    5: 'MARKET_PERFORMANCE_WARNING',
    6: 'MARKET_PARTIAL_CONNECTED',
  },
  activation: { 0: 'CONNECTION_ACTIVATE_VALID', 1: 'CONNECTION_ACTIVATE_INVALID' },
};

export function stateTypeOf(type: number): StateType | null {
  for (const [name, value] of Object.entries(STATE_TYPE)) if (value === type) return name as StateType;
  return null;
}

/** `MARKET_CONNECTED`…, or `<type>_<value>` for a value the notes do not list. */
export function stateName(type: StateType, result: number): string {
  return STATE_NAMES[type][result] ?? `${type.toUpperCase()}_${result}`;
}

export const LOGIN_CONNECTED = 0;
export const ROUTING_BROKER_CONNECTED = 5;
export const MARKET = {
  disconnected: 0,
  connecting: 1,
  waiting: 2,
  notLogged: 3,
  connected: 4,
  performanceWarning: 5,
  partial: 6,
} as const;
export const ACTIVATION_VALID = 0;

/** Trade callback flags (ABI notes §5.3). */
export const TC_IS_EDIT = 1;
export const TC_LAST_PACKET = 2;
