import { BATCH_PREFIX, BATCH_SUFFIX } from './protocol.js';

/** A ready-to-send batch frame (UTF-8 JSON, sent as a text frame) and the seqs it carries. */
export interface Frame {
  data: Buffer;
  count: number;
  last: number;
}

interface Segment {
  first: number;
  /** The whole batch frame of the segment's records. */
  frame: Buffer;
  /** ends[i]: byte offset in frame just past record first + i. */
  ends: Uint32Array;
}

const PREFIX_BYTES = Buffer.byteLength(BATCH_PREFIX);
const PREFIX = Buffer.from(BATCH_PREFIX);
const SUFFIX = Buffer.from(BATCH_SUFFIX);

/**
 * The last published records (at least `capacity`; after each seal fewer than 2 × capacity) for
 * live frames and fast resume. Records are kept in segments, one per event-loop turn (the server's
 * flush seals them), each stored as its finished batch frame in a Buffer: every caught-up
 * connection is sent that same Buffer (no per-connection encoding), and the bytes live outside the
 * JS heap (tens of thousands of small strings surviving to the old generation made GC the largest
 * cost of the feed at 100k records/s). The held seqs are one contiguous range; a publish that
 * skips seqs starts the ring anew.
 */
export class Ring {
  private segments: (Segment | undefined)[] = [];
  private head = 0;
  private open: string[] = [];
  private openFirst = 0;
  private sealedCount = 0;
  private firstSeq = 0;
  private lastSeq = 0;
  private readonly segmentMax: number;

  constructor(
    readonly capacity: number,
    /** Most records in a segment and in a frame. */
    readonly maxFrameRecords = 1_000,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be ≥ 1');
    this.segmentMax = Math.max(1, Math.min(capacity, maxFrameRecords));
  }

  get first(): number {
    return this.firstSeq;
  }
  get last(): number {
    return this.lastSeq;
  }
  get size(): number {
    return this.firstSeq === 0 ? 0 : this.lastSeq - this.firstSeq + 1;
  }

  push(seq: number, encoded: string): void {
    if (this.lastSeq !== 0 && seq !== this.lastSeq + 1) this.clear();
    if (this.open.length === 0) this.openFirst = seq;
    if (this.firstSeq === 0) this.firstSeq = seq;
    this.open.push(encoded);
    this.lastSeq = seq;
    if (this.open.length >= this.segmentMax) this.seal();
  }

  /** Closes the records pushed since the last seal into one segment. */
  seal(): void {
    const n = this.open.length;
    if (n === 0) return;
    const text = `${BATCH_PREFIX}${this.open.join(',')}${BATCH_SUFFIX}`;
    const frame = ownBuffer(text);
    const ascii = frame.length === text.length; // then byte offsets are char offsets
    const ends = new Uint32Array(n);
    let pos = PREFIX_BYTES;
    for (let i = 0; i < n; i++) {
      const rec = this.open[i] as string;
      pos += ascii ? rec.length : Buffer.byteLength(rec);
      ends[i] = pos;
      pos += 1; // the comma
    }
    this.segments.push({ first: this.openFirst, frame, ends });
    this.sealedCount += n;
    this.open = [];
    this.evict();
  }

  has(seq: number): boolean {
    return this.firstSeq !== 0 && seq >= this.firstSeq && seq <= this.lastSeq;
  }

  /**
   * A frame of the records from `seq` on (at most maxFrameRecords), or undefined when `seq` is not
   * held. A whole segment is returned as is; anything else is copied out of the segments.
   */
  frame(seq: number): Frame | undefined {
    this.seal(); // may evict: look after it
    if (!this.has(seq)) return undefined;
    const i0 = this.find(seq);
    const s0 = this.segments[i0] as Segment;
    if (s0.first === seq && s0.ends.length <= this.maxFrameRecords) {
      // Whole segments: the first as is, unless small ones following it fit in the same frame.
      const next = this.segments[i0 + 1];
      if (!next || s0.ends.length + next.ends.length > this.maxFrameRecords) {
        return { data: s0.frame, count: s0.ends.length, last: seq + s0.ends.length - 1 };
      }
    }
    const parts: Buffer[] = [PREFIX];
    let count = 0;
    for (let i = i0; i < this.segments.length && count < this.maxFrameRecords; i++) {
      const seg = this.segments[i] as Segment;
      const from = seq + count - seg.first;
      const to = Math.min(seg.ends.length, from + this.maxFrameRecords - count); // exclusive
      const start = from === 0 ? PREFIX_BYTES : (seg.ends[from - 1] as number) + 1;
      if (count > 0) parts.push(COMMA);
      parts.push(seg.frame.subarray(start, seg.ends[to - 1] as number));
      count += to - from;
    }
    parts.push(SUFFIX);
    return { data: Buffer.concat(parts), count, last: seq + count - 1 };
  }

  private clear(): void {
    this.segments = [];
    this.head = 0;
    this.open = [];
    this.sealedCount = 0;
    this.firstSeq = 0;
  }

  /** Drops whole oldest segments while the rest still hold at least `capacity` records. */
  private evict(): void {
    while (this.head < this.segments.length) {
      const oldest = this.segments[this.head] as Segment;
      if (this.sealedCount + this.open.length - oldest.ends.length < this.capacity) break;
      this.sealedCount -= oldest.ends.length;
      this.segments[this.head] = undefined; // let its Buffer go now
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.segments.length) {
      this.segments = this.segments.slice(this.head);
      this.head = 0;
    }
    this.firstSeq = this.segments[this.head]?.first ?? this.openFirst;
  }

  /** Index of the sealed segment holding `seq` (which must be held). */
  private find(seq: number): number {
    let lo = this.head;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.segments[mid] as Segment).first <= seq) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

const COMMA = Buffer.from(',');

/**
 * The string's UTF-8 bytes in a Buffer of their own. `Buffer.from` puts a string under 4 KiB in a
 * slice of Node's shared 8 KiB pool, and a slice kept keeps its whole pool block: a ring of small
 * segments (a quiet feed, one record per turn, like the order feed's) held an 8 KiB block per
 * segment, up to 8 KiB × capacity outside the heap.
 */
function ownBuffer(text: string): Buffer {
  // From this many characters on, Buffer.from allocates outside the pool (the hot path at high rates).
  if (text.length >= Buffer.poolSize >>> 1) return Buffer.from(text);
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text);
  return bytes;
}
