/**
 * The last published records (at least `capacity`, after each seal fewer than 2 × capacity), as encoded
 * JSON, for live frames and fast resume. Records are kept in segments (one per event-loop turn,
 * as sealed by the server's flush): one comma-joined string plus an end-offset array per segment
 * instead of one string per record, because tens of thousands of small strings surviving to the
 * old generation made GC pauses the largest cost of the feed at 100k records/s.
 * The held seqs are one contiguous range; a publish that skips seqs starts the ring anew.
 */
export class Ring {
  private segments: Segment[] = [];
  private head = 0;
  private open: string[] = [];
  private openFirst = 0;
  private sealedCount = 0;
  private firstSeq = 0;
  private lastSeq = 0;
  private readonly segmentMax: number;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be ≥ 1');
    this.segmentMax = Math.min(capacity, 1_024);
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

  /** Closes the records pushed since the last seal into one segment (the server calls it per turn). */
  seal(): void {
    const n = this.open.length;
    if (n === 0) return;
    const ends = new Uint32Array(n);
    let pos = 0;
    for (let i = 0; i < n; i++) {
      pos += (this.open[i] as string).length;
      ends[i] = pos;
      pos += 1; // the comma
    }
    this.segments.push({ first: this.openFirst, text: this.open.join(','), ends });
    this.sealedCount += n;
    this.open = [];
    this.evict();
  }

  has(seq: number): boolean {
    return this.firstSeq !== 0 && seq >= this.firstSeq && seq <= this.lastSeq;
  }

  /** Comma-joined encoded records from `seq` on, at most `max` (count 0 when `seq` is not held). */
  slice(seq: number, max: number): { text: string; count: number } {
    this.seal(); // may evict: look after it
    if (!this.has(seq)) return { text: '', count: 0 };
    const pieces: string[] = [];
    let count = 0;
    for (let i = this.find(seq); i < this.segments.length && count < max; i++) {
      const seg = this.segments[i] as Segment;
      const from = seq + count - seg.first;
      const to = Math.min(seg.ends.length, from + max - count); // exclusive
      const start = from === 0 ? 0 : (seg.ends[from - 1] as number) + 1;
      const end = seg.ends[to - 1] as number;
      pieces.push(start === 0 && end === seg.text.length ? seg.text : seg.text.slice(start, end));
      count += to - from;
    }
    return { text: pieces.length === 1 ? (pieces[0] as string) : pieces.join(','), count };
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
    const held = () => this.sealedCount + this.open.length;
    while (this.head < this.segments.length) {
      const oldest = this.segments[this.head] as Segment;
      if (held() - oldest.ends.length < this.capacity) break;
      this.sealedCount -= oldest.ends.length;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.segments.length) {
      this.segments = this.segments.slice(this.head);
      this.head = 0;
    }
    this.firstSeq = (this.segments[this.head] as Segment | undefined)?.first ?? this.openFirst;
  }

  /** Index of the segment holding `seq` (held and sealed). */
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

interface Segment {
  first: number;
  /** The segment's encoded records joined with commas. */
  text: string;
  /** ends[i]: offset in text just past record first + i. */
  ends: Uint32Array;
}
