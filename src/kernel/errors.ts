/**
 * The one error envelope every API answers with:
 *   { "error": { "code": "RISK_MAX_POSITION", "message": "…", "details": {…} } }
 * and the one catalogue of its codes (as Fastify's lib/errors.js keeps its own): each code is
 * written here once, with its HTTP status and its message. Build an error with `fail.CODE(…)`
 * and throw it anywhere in a request: the service base turns it into the envelope.
 */
export interface ErrorEnvelope {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export type ErrorDetails = Record<string, unknown>;

interface ErrorSpec {
  readonly status: number;
  /** The message; where the call site names what was wrong, it gives its own and this is the default. */
  readonly message: string;
}

export const ERRORS = {
  // Any request, answered by the service base (kernel/service.ts) and the kernel's helpers.
  VALIDATION_ERROR: { status: 400, message: 'the request is not valid' },
  INVALID_JSON: { status: 400, message: 'the body is not valid JSON' },
  JSON_TOO_DEEP: { status: 400, message: 'the body nests too deep' },
  /** Fastify's status stands for this one and the next two (kernel/service.ts toEnvelope). */
  PAYLOAD_TOO_LARGE: { status: 413, message: 'the body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'the content type is not supported' },
  BAD_REQUEST: { status: 400, message: 'bad request' },
  NOT_FOUND: { status: 404, message: 'not found' },
  INTERNAL_ERROR: { status: 500, message: 'internal error' },
  HOST_NOT_ALLOWED: { status: 421, message: 'the Host header does not name this service' },
  ORIGIN_NOT_ALLOWED: { status: 403, message: 'requests from this browser origin are refused' },
  INTERNAL_CREDENTIAL_REQUIRED: {
    status: 401,
    message: 'internal service: call it through the gateway (or present the internal credential)',
  },
  FEED_CLOSED: { status: 503, message: 'the feed is shutting down' },
  INVALID_FROM: { status: 400, message: 'from is not a position the feed can serve' },
  STORAGE_WRITE_FAILED: { status: 503, message: 'the change could not be saved' },

  // A data file a service cannot use (kernel/unusable.ts).
  KEYS_UNAVAILABLE: { status: 503, message: 'the API keys file cannot be used' },
  JOURNAL_UNAVAILABLE: { status: 503, message: 'the order journal cannot be used' },
  IDEA_BANK_UNAVAILABLE: { status: 503, message: 'the idea bank file cannot be used' },
  SUBSCRIPTIONS_UNAVAILABLE: { status: 503, message: 'the subscriptions file cannot be used' },

  // Authentication and access: the gateway, the stream and the supervisor's control endpoint.
  UNAUTHORIZED: { status: 401, message: 'authentication is required' },
  FORBIDDEN: { status: 403, message: 'the role does not allow it' },
  TOO_MANY_AUTH_FAILURES: { status: 429, message: 'too many failed authentications; try again later' },
  TOO_MANY_AUTH_ATTEMPTS: {
    status: 429,
    message: 'too many key verifications in progress; try again in a second',
  },
  RATE_LIMITED: { status: 429, message: 'too many requests' },
  CSRF_TOKEN_INVALID: { status: 403, message: 'a state change with a session cookie needs the CSRF token' },
  CROSS_SITE_REFUSED: { status: 403, message: 'a page of another origin may not use a browser session' },
  ACCOUNT_FORBIDDEN: { status: 403, message: 'this key may not trade for the account' },
  METRICS_FORBIDDEN: {
    status: 403,
    message: '/metrics answers loopback, or a scraper with the configured bearer token',
  },
  CONTROL_FAILED: { status: 400, message: 'the supervisor could not do it' },

  // The gateway in front of the services.
  INVALID_PATH: { status: 400, message: 'the path may not contain . or .. segments' },
  /** 504 instead when the upstream timed out (gateway/proxy.ts). */
  UPSTREAM_UNAVAILABLE: { status: 503, message: 'the service is not answering' },
  UPSTREAM_ANSWER_TOO_LARGE: { status: 502, message: 'the answer is larger than the gateway reads whole' },
  UPSTREAM_BAD_ANSWER: { status: 502, message: 'the service gave an answer the gateway cannot read' },
  AMBIGUOUS_POSITION: { status: 409, message: 'several accounts hold the symbol; pass ?account=' },
  /** The compatibility API's flat answer for any risk code (gateway/compat.ts). */
  RISK_LIMIT_EXCEEDED: { status: 403, message: 'the order breaks a risk limit' },

  // The stream: refused upgrades, then error replies on the socket (these carry no HTTP status;
  // theirs is what an HTTP API would answer).
  SHUTTING_DOWN: { status: 503, message: 'the stream is shutting down' },
  TOO_MANY_CLIENTS: { status: 503, message: 'the stream has all the clients it takes' },
  TOO_MANY_HANDSHAKES: { status: 503, message: 'too many connections are authenticating at once' },
  TOO_MANY_CONNECTIONS_PER_IP: { status: 429, message: 'too many connections from one address' },
  TOO_MANY_CONNECTIONS_PER_KEY: { status: 429, message: 'too many connections for one API key' },
  INVALID_MESSAGE: { status: 400, message: 'the message is not a valid op' },
  UNKNOWN_OP: { status: 400, message: 'unknown op; ops are subscribe, unsubscribe, ping' },
  UNKNOWN_CHANNEL: { status: 404, message: 'no such channel' },
  UNKNOWN_INSTRUMENT: { status: 404, message: 'no such instrument configured' },
  TOO_MANY_SUBSCRIPTIONS: { status: 400, message: 'too many subscriptions' },
  BINARY_NOT_SUPPORTED: { status: 415, message: 'send JSON text frames' },

  // The idea bank.
  FIELD_TOO_LARGE: { status: 413, message: 'a field is longer than allowed' },
  IDEA_BANK_FULL: { status: 409, message: 'the idea bank is full; delete or archive some ideas first' },
  INVALID_TRANSITION: { status: 409, message: 'the idea cannot move to that status' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'the Idempotency-Key was used for another idea' },
  IDEA_DELETED: { status: 410, message: 'the idea created with this Idempotency-Key has been deleted' },

  // Data capture and the handbook.
  UNKNOWN_TICKER: { status: 400, message: 'not a configured instrument' },
  NOT_SIMULATED: { status: 409, message: 'the broker is not the simulator' },
  INVALID_SLUG: { status: 400, message: 'the slug could name a path outside the handbook' },

  // The order manager and its domain (domain/orders.ts).
  JOURNAL_COMMIT_FAILED: { status: 503, message: 'the order journal could not commit' },
  ORDER_CLOSED: { status: 409, message: 'the order is closed' },
  ORDER_NOT_UNKNOWN: { status: 409, message: 'only an UNKNOWN order can be settled' },
  INVALID_ORDER: { status: 400, message: 'the order is not well formed' },
  ILLEGAL_TRANSITION: { status: 409, message: 'the order does not allow this in its status' },
  INVALID_REPLACE: { status: 400, message: 'the replace is not valid' },
  // Broker reports that do not fit the order: logged and reconciled, never answered over HTTP.
  INVALID_FILL: { status: 409, message: 'the fill is not valid' },
  OVERFILL: { status: 409, message: 'the fill would fill more than the order' },
  FILL_MISMATCH: { status: 409, message: 'the reported status does not agree with the fills' },
  /** A metric label: the order is answered REJECTED, not with this error. */
  BROKER_REJECTED: { status: 422, message: 'the broker rejected the order' },

  // Pre-trade risk (domain/risk.ts): an order refused with 422, in the order the checks run.
  RISK_LIMITS_INVALID: { status: 422, message: 'the risk limits are invalid; trading is refused' },
  RISK_KILL_SWITCH: { status: 422, message: 'the kill switch is active' },
  RISK_TRADING_HALTED: { status: 422, message: 'trading is HALTED' },
  RISK_BROKER_NOT_READY: { status: 422, message: 'the broker is not ready' },
  RISK_UNKNOWN_INSTRUMENT: { status: 422, message: 'unknown instrument' },
  RISK_OUTSIDE_TRADING_HOURS: { status: 422, message: 'outside the trading hours' },
  RISK_REDUCE_ONLY: { status: 422, message: 'trading is REDUCING: only orders that reduce the position' },
  RISK_TICK_SIZE: { status: 422, message: 'a price is off the tick grid' },
  RISK_LOT_SIZE: { status: 422, message: 'the quantity is not a multiple of the lot size' },
  RISK_MAX_ORDER_QTY: { status: 422, message: 'the quantity exceeds the maximum per order' },
  RISK_MAX_NOTIONAL: { status: 422, message: 'the notional exceeds the maximum' },
  RISK_PRICE_BAND: { status: 422, message: 'the price is too far from the last trade' },
  RISK_MAX_POSITION: { status: 422, message: 'the position would exceed the maximum' },
  RISK_DAILY_LOSS: { status: 422, message: 'the daily P&L reached the loss limit' },
  RISK_ORDER_RATE: { status: 422, message: 'too many orders in the window' },
  RISK_MAX_OPEN_ORDERS: { status: 422, message: 'too many open orders' },
  RISK_DUPLICATE_ORDER: { status: 422, message: 'the same order was sent moments ago' },
  RISK_SIGNAL_CONFIDENCE: { status: 422, message: 'the signal confidence is below the minimum' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;
export type RiskCode = Extract<ErrorCode, `RISK_${string}`>;

/** Each code as a value, for what carries a code without being an error (metric labels, stream replies). */
export const CODE = Object.fromEntries(Object.keys(ERRORS).map((code) => [code, code])) as {
  readonly [C in ErrorCode]: C;
};

/** True for a catalogue code of the risk engine (or the compatibility API's RISK_LIMIT_EXCEEDED). */
export const isRiskCode = (code: string | undefined): code is RiskCode =>
  typeof code === 'string' && code.startsWith('RISK_') && Object.hasOwn(ERRORS, code);

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetails,
  ) {
    super(message);
    this.name = 'AppError';
  }

  toEnvelope(): ErrorEnvelope {
    return {
      error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) },
    };
  }
}

/** Builds the error of one code with its catalogue status: with the catalogue's message, or the call site's. */
export interface ErrorFactory {
  (details?: ErrorDetails): AppError;
  (message: string, details?: ErrorDetails): AppError;
}

const factoryOf =
  (code: ErrorCode): ErrorFactory =>
  (messageOrDetails?: string | ErrorDetails, details?: ErrorDetails) => {
    const { status, message } = ERRORS[code];
    return typeof messageOrDetails === 'string'
      ? new AppError(status, code, messageOrDetails, details)
      : new AppError(status, code, message, messageOrDetails);
  };

/** One factory per code: `throw fail.NOT_SIMULATED()`, `throw fail.ORDER_CLOSED(message, { status })`. */
export const fail = Object.fromEntries(
  Object.keys(ERRORS).map((code) => [code, factoryOf(code as ErrorCode)]),
) as { readonly [C in ErrorCode]: ErrorFactory };

export const notFound = (what: string, id: string) => fail.NOT_FOUND(`${what} '${id}' not found`, { id });
