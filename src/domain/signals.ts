export type SignalDirection = 'BUY' | 'SELL' | 'HOLD';
export type SignalDecision = 'executed' | 'ignored' | 'rejected';

/** A trading signal as received (the original gateway's shape) and what became of it. */
export interface Signal {
  id: string;
  /** Epoch ms. */
  receivedAt: number;
  symbol: string;
  direction: SignalDirection;
  confidence: number;
  quantity?: number;
  source: string;
  price?: number;
  actor: string;
  /** Absent while the order it asked for is being submitted (or if the process died then). */
  decision?: SignalDecision;
  reason?: string;
  orderId?: string;
  /** The risk code of a rejection. */
  code?: string;
}

export type SignalOutcome = Pick<Signal, 'decision' | 'reason' | 'orderId' | 'code'> & {
  signalId: string;
};

/** The newest signals kept in memory (the journal keeps them all); GET /api/signals reads these. */
export const SIGNALS_KEPT = 5_000;

/** Insertion-ordered, so the oldest is the first key. */
export type SignalBook = Map<string, Signal>;

export function addSignal(book: SignalBook, signal: Signal): void {
  book.set(signal.id, signal);
  if (book.size > SIGNALS_KEPT) {
    const oldest = book.keys().next().value;
    if (oldest !== undefined) book.delete(oldest);
  }
}

export function decideSignal(book: SignalBook, outcome: SignalOutcome): Signal | undefined {
  const signal = book.get(outcome.signalId);
  if (!signal) return undefined;
  const { signalId: _, ...fields } = outcome;
  const decided = { ...signal, ...fields };
  book.set(signal.id, decided);
  return decided;
}

/** Newest first. */
export function listSignals(book: SignalBook, limit: number, symbol?: string): Signal[] {
  const out: Signal[] = [];
  const all = [...book.values()];
  for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
    const s = all[i];
    if (s && (!symbol || s.symbol === symbol)) out.push(s);
  }
  return out;
}
