import { DEFAULT_INSTRUMENTS } from './config.js';

type DefaultInstrument = (typeof DEFAULT_INSTRUMENTS)[number];

/** One of the default instruments, by symbol (tests only: an unknown symbol is a test bug). */
export function defaultInstrument(symbol: string): DefaultInstrument {
  const found = DEFAULT_INSTRUMENTS.find((i) => i.symbol === symbol);
  if (!found) throw new Error(`no default instrument ${symbol}`);
  return found;
}
