import type { Instrument } from '../../../domain/instruments.js';
import { minutesOf } from '../../../domain/instruments.js';
import { type LocalDay, zonedInstant } from '../../../kernel/time.js';
import { combine, hashText, unit } from './hash.js';

/** The knobs of the simulated flow that shape when trades print. */
export interface FlowSettings {
  seed: number;
  tradesPerSecond: number;
  burstFactor: number;
  realHours: boolean;
  /** Nothing prints before this instant; the session's numbering starts there. */
  openAt: number | undefined;
  closeAt: number | undefined;
  timeZone: string;
}

/** Share of distinct millisecond slots per trade: B3 prints often arrive several in the same ms. */
const SLOTS_PER_TRADE = 0.6;
const SALT_ENVELOPE = 1;
const SALT_RATE = 2;
const SALT_ROUNDING = 3;
const SALT_SLOT = 4;

/**
 * The burst envelope at one knot: between 1/B and B with mean exactly 1, mostly calm with rare
 * peaks (u^B is skewed towards 0), so the average rate stays `tradesPerSecond`.
 */
function burstEnvelope(u: number, burstFactor: number): number {
  const low = 1 / burstFactor;
  return low + (burstFactor - low) * u ** burstFactor;
}

/**
 * When trades print in one instrument's session (one local day): counts per second and the ms of
 * each trade, all hashed from (seed, symbol, day, second). Built once per (symbol, day), then every
 * lookup is O(1) or a binary search.
 */
export class TapeSession {
  /** Hash of (seed, symbol, day): the root of every coordinate in this session. */
  readonly key: number;
  readonly openTs: number;
  /** Exclusive end: the scheduled close, or `closeAt` when that comes first. */
  readonly endTs: number;
  readonly tradesPerSecond: number;
  private readonly seconds: number;
  /** Trades per second before `closeAt` truncation; ms offsets are laid out on these. */
  private readonly rawCounts: Uint32Array;
  /** prefix[s] = trades printed in the seconds before s. */
  private readonly prefix: Float64Array;
  private readonly slotKey: number;

  constructor(
    readonly instrument: Instrument,
    readonly day: LocalDay,
    flow: FlowSettings,
  ) {
    this.key = combine(combine(hashText(instrument.symbol), flow.seed), day.dayNumber);
    this.slotKey = combine(this.key, SALT_SLOT);
    this.tradesPerSecond = flow.tradesPerSecond;
    const [openTs, closeTs] = flow.realHours
      ? [
          zonedInstant(flow.timeZone, day.dayNumber, minutesOf(instrument.sessionOpen)),
          zonedInstant(flow.timeZone, day.dayNumber, minutesOf(instrument.sessionClose)),
        ]
      : [day.startTs, day.endTs];
    this.openTs = Math.min(Math.max(openTs, flow.openAt ?? openTs), closeTs);
    this.endTs = Math.max(this.openTs, Math.min(closeTs, flow.closeAt ?? closeTs));
    this.seconds = Math.ceil((this.endTs - this.openTs) / 1000);
    this.rawCounts = new Uint32Array(this.seconds);
    this.prefix = new Float64Array(this.seconds + 1);
    this.layOutSeconds(flow);
  }

  /** Trades in the whole session. */
  get total(): number {
    return this.prefixAt(this.seconds);
  }

  /** How many trades printed in this session at or before `ts`. */
  countAtOrBefore(ts: number): number {
    if (ts < this.openTs) return 0;
    const second = Math.floor((ts - this.openTs) / 1000);
    if (second >= this.seconds) return this.total;
    const msInSecond = Math.floor(ts - this.openTs - second * 1000);
    return this.prefixAt(second) + this.countInSecondAtOrBefore(second, msInSecond);
  }

  /** Print time of trade number n (1-based). */
  tsOf(n: number): number {
    const second = this.secondOf(n);
    return this.openTs + second * 1000 + this.offsetMs(second, n - 1 - this.prefixAt(second));
  }

  /** Calls `visit` for trade numbers first..last with their print times, in order. */
  forEachPrint(first: number, last: number, visit: (n: number, ts: number) => void): void {
    if (first > last) return;
    let second = this.secondOf(first);
    let n = first;
    while (n <= last && second < this.seconds) {
      const secondStart = this.openTs + second * 1000;
      const base = this.prefixAt(second);
      const end = Math.min(last, this.prefixAt(second + 1));
      for (; n <= end; n++) visit(n, secondStart + this.offsetMs(second, n - 1 - base));
      second++;
    }
  }

  private layOutSeconds(flow: FlowSettings): void {
    const envelopeKey = combine(this.key, SALT_ENVELOPE);
    const rateKey = combine(this.key, SALT_RATE);
    const roundingKey = combine(this.key, SALT_ROUNDING);
    const knots = new Float64Array(Math.ceil(this.seconds / 60) + 2);
    for (let m = 0; m < knots.length; m++) {
      knots[m] = burstEnvelope(unit(combine(envelopeKey, m)), flow.burstFactor);
    }
    for (let s = 0; s < this.seconds; s++) {
      const m = Math.floor(s / 60);
      const f = (s % 60) / 60;
      const envelope = (knots[m] ?? 1) * (1 - f) + (knots[m + 1] ?? 1) * f;
      const noise = 0.75 + 0.5 * unit(combine(rateKey, s));
      // Stochastic rounding keeps the mean exact for rates below one trade per second.
      const count = Math.floor(flow.tradesPerSecond * envelope * noise + unit(combine(roundingKey, s)));
      this.rawCounts[s] = count;
      const msLeft = this.endTs - (this.openTs + s * 1000);
      const printed = msLeft >= 1000 ? count : this.countInSecondAtOrBefore(s, msLeft - 1, count);
      this.prefix[s + 1] = this.prefixAt(s) + printed;
    }
  }

  /** Trades of second s whose ms offset is <= msInSecond (offsets are sorted, so binary search). */
  private countInSecondAtOrBefore(
    second: number,
    msInSecond: number,
    printed = this.printedIn(second),
  ): number {
    let lo = 0;
    let hi = printed;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsetMs(second, mid) <= msInSecond) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Ms offset of the i-th trade of a second: trades share jittered slots so several print in the
   * same ms; non-decreasing in i, always below 1000.
   */
  private offsetMs(second: number, index: number): number {
    const count = this.rawCounts[second] ?? 1;
    const slots = Math.max(1, Math.ceil(count * SLOTS_PER_TRADE));
    const slot = Math.floor((index * slots) / count);
    return Math.floor(((slot + unit(combine(combine(this.slotKey, second), slot))) * 1000) / slots);
  }

  private printedIn(second: number): number {
    return this.prefixAt(second + 1) - this.prefixAt(second);
  }

  /** The second holding trade n: the last s with prefix[s] < n. */
  private secondOf(n: number): number {
    let lo = 0;
    let hi = this.seconds - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.prefixAt(mid) < n) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private prefixAt(second: number): number {
    return this.prefix[second] ?? 0;
  }
}
