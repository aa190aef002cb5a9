import { INTRADAY_STEP_MS } from '../../domain/bars.js';
import { allows, type Role } from '../../kernel/auth/keys.js';
import { CODE, type ErrorCode } from '../../kernel/errors.js';

/** The kinds of channel a client can subscribe to; market-data kinds are per instrument. */
export type ChannelKind = 'trades' | 'quotes' | 'bars' | 'orders' | 'positions' | 'risk' | 'health';

interface KindRules {
  /** Role needed to subscribe. Everything is read-only, so viewer and up today. */
  role: Role;
  /** A client behind gets only the latest message (market data); otherwise nothing is dropped. */
  conflate: boolean;
  /** A new subscriber gets the latest message at once (a state, not an event stream). */
  snapshot: boolean;
}

/** The access and delivery table: the one place that says who may read what, and how. */
export const CHANNEL_RULES: Readonly<Record<ChannelKind, KindRules>> = {
  trades: { role: 'viewer', conflate: true, snapshot: true },
  quotes: { role: 'viewer', conflate: true, snapshot: true },
  bars: { role: 'viewer', conflate: true, snapshot: true },
  orders: { role: 'viewer', conflate: false, snapshot: false },
  positions: { role: 'viewer', conflate: false, snapshot: true },
  risk: { role: 'viewer', conflate: false, snapshot: false },
  health: { role: 'viewer', conflate: true, snapshot: true },
};

/** Bar intervals the stream builds live. */
export const LIVE_BAR_INTERVALS = { '1m': INTRADAY_STEP_MS['1m'] } as const;
export type LiveBarInterval = keyof typeof LIVE_BAR_INTERVALS;

const SYSTEM_KINDS = ['orders', 'positions', 'risk', 'health'] as const;

export interface ChannelSpec {
  name: string;
  kind: ChannelKind;
}

export type ChannelLookup =
  | { ok: true; channel: ChannelSpec }
  | { ok: false; code: ErrorCode; message: string };

export const tradesChannel = (symbol: string) => `trades:${symbol}`;
export const quotesChannel = (symbol: string) => `quotes:${symbol}`;
export const barsChannel = (interval: LiveBarInterval, symbol: string) => `bars:${interval}:${symbol}`;

/**
 * Every channel that exists: a fixed set made from the configured instruments, so a client naming
 * ten thousand channels can never make the hub allocate one.
 */
export function allChannels(symbols: readonly string[]): ChannelSpec[] {
  const market = symbols.flatMap((s): ChannelSpec[] => [
    { name: tradesChannel(s), kind: 'trades' },
    { name: quotesChannel(s), kind: 'quotes' },
    ...Object.keys(LIVE_BAR_INTERVALS).map(
      (i): ChannelSpec => ({ name: barsChannel(i as LiveBarInterval, s), kind: 'bars' }),
    ),
  ]);
  return [...market, ...SYSTEM_KINDS.map((kind) => ({ name: kind, kind }))];
}

/** Resolves a channel name a client sent, with an error that says what was wrong with it. */
export function lookupChannel(
  name: string,
  known: ReadonlyMap<string, ChannelSpec>,
  symbols: ReadonlySet<string>,
  role: Role,
): ChannelLookup {
  const channel = known.get(name);
  if (!channel) return { ok: false, ...whyUnknown(name, symbols) };
  const need = CHANNEL_RULES[channel.kind].role;
  if (!allows(role, need)) {
    return { ok: false, code: CODE.FORBIDDEN, message: `channel '${name}' needs the '${need}' role` };
  }
  return { ok: true, channel };
}

function whyUnknown(name: string, symbols: ReadonlySet<string>) {
  const shown = name.length > 60 ? `${name.slice(0, 60)}…` : name;
  const parts = name.split(':');
  const symbol = parts.at(-1) ?? '';
  const marketShape =
    ((parts[0] === 'trades' || parts[0] === 'quotes') && parts.length === 2) ||
    (parts[0] === 'bars' && parts.length === 3 && (parts[1] ?? '') in LIVE_BAR_INTERVALS);
  if (marketShape && !symbols.has(symbol)) {
    return {
      code: CODE.UNKNOWN_INSTRUMENT,
      message: `no instrument '${symbol.slice(0, 20)}' configured`,
    };
  }
  return {
    code: CODE.UNKNOWN_CHANNEL,
    message: `no channel '${shown}'; channels are trades:SYM, quotes:SYM, bars:1m:SYM, orders, positions, risk, health`,
  };
}
