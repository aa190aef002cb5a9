import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { CapturedEvent } from '../../domain/market-data.js';
import { type Clock, systemClock } from '../../kernel/clock.js';
import { keepAside } from '../../kernel/durable-file.js';
import { decodeRecord, encodeRecord, MAX_RECORD_BYTES, recordEnd, recordSeq, Views } from './market-codec.js';

/**
 * The market-data journal: append-only segment files of checksummed records.
 *
 *   {dir}/{firstSeq, 16 digits}.seg   a sequence of frames, each 8-aligned:
 *   frame = u32 body bytes | u32 CRC-32 of body | u32 record count | u32 0 | records (market-codec)
 *
 * Appends are encoded into a buffer; a flush writes them as one frame with one write(), which the
 * capture path calls before it publishes anything, so a record is in the file (the OS's page cache)
 * before anyone sees it; the file is fdatasync'ed every `fsyncIntervalMs`. One checksum per frame
 * (native zlib) keeps the tick path cheap; a frame is written whole or, after a crash, cut whole. Only the newest segment is
 * open; a segment seals on size or age, and a sealed segment is handed to `onSeal` (for Parquet).
 *
 * A write that fails (a full or read-only disk, a failed fdatasync) never throws at the tick path:
 * the journal turns `failure`, drops what it had not written (the caller learns which records by
 * `writtenSeq`) and takes nothing until `retry()` finds the disk writable again.
 *
 * At open, a torn or corrupt tail of the newest segment is cut off (and kept aside) and that
 * segment is sealed; an older segment that does not read to its end is damaged: kept aside whole,
 * cut to what reads, and the seqs it lost are reported in `recovery.lost`, as are seqs below
 * `minNextSeq` (handed out before, per the caller's checkpoint) that no segment holds any more.
 * Seqs are never handed out twice.
 */
export interface JournalOptions {
  dir: string;
  fsyncIntervalMs: number;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  clock?: Clock;
  onSeal?: (segment: SegmentInfo) => void;
  onFsync?: (seconds: number) => void;
  /** A write, fdatasync or open failed: the journal is `failure` until `retry()` succeeds. */
  onError?: (err: Error) => void;
  /** The first seq this journal may hand out: at least one past what the caller knows was handed out. */
  minNextSeq?: number;
}

export interface SegmentInfo {
  file: string;
  firstSeq: number;
  lastSeq: number;
}

/** Seqs no segment holds: damaged on disk, or cut off the newest segment although handed out. */
export interface LostRange {
  fromSeq: number;
  toSeq: number;
  /** The segment they were in, and where its damaged copy was kept. */
  file: string;
  keptAs: string | null;
}

export interface RecoveryReport {
  /** Bytes cut off the end of the newest segment (a torn or corrupt tail). */
  truncatedBytes: number;
  /** Where the cut-off bytes were kept, when there were any. */
  quarantinedTo: string | null;
  /** The newest segment found at open, now sealed, if it held records. */
  sealedAtOpen: SegmentInfo | null;
  /** Seqs lost to damage, oldest first. */
  lost: LostRange[];
}

const FRAME_HEADER = 16;
/** The append buffer, and so the largest frame. */
const BUFFER_BYTES = 1 << 20;
/**
 * Sealed segments whose frame index stays in memory (the most recently sealed or read). An index
 * has an entry per write, one per event-loop turn of the tick path (2,000-5,000 per one-minute
 * segment at 2,000 trades/s per instrument), and sealed segments stay for `keepConvertedHours`
 * (48 h): keeping every index grew data-capture by ~17 MB an hour. The others are rebuilt from the
 * file's frame headers when a read needs them (a consumer resuming from far back).
 */
export const INDEXED_SEALED_SEGMENTS = 4;

interface Segment extends SegmentInfo {
  /** [first seq, byte offset] of every frame; lets a read start at the frame holding any seq. */
  index: [number, number][] | null;
  bytes: number;
}

export class SegmentJournal {
  private readonly clock: Clock;
  private readonly sealed: Segment[] = [];
  /** Sealed segments holding their frame index in memory, least recently used first. */
  private readonly indexed: Segment[] = [];
  private open!: Segment;
  private fd = -1;
  private readonly pending = new Views(new ArrayBuffer(BUFFER_BYTES));
  private pendingBytes = 0;
  private pendingCount = 0;
  private pendingFirstSeq = 0;
  private openedAt = 0;
  private fsyncTimer: NodeJS.Timeout | null = null;
  private syncing = false;
  private unsyncedSeq = 0;
  private closed = false;
  /** Why the journal cannot write now; null while it can. */
  failure: Error | null = null;
  /** A cut of a torn tail that could not be made at open (a read-only disk), made by `retry`. */
  private pendingCut: { file: string; bytes: number } | null = null;
  /** Highest seq handed to append. */
  lastSeq = 0;
  /** Highest seq written to the file (readable, survives a process crash). */
  writtenSeq = 0;
  /** Highest seq covered by a completed fdatasync (survives a power loss). */
  durableSeq = 0;
  readonly recovery: RecoveryReport;

  constructor(private readonly opts: JournalOptions) {
    this.clock = opts.clock ?? systemClock;
    mkdirSync(opts.dir, { recursive: true });
    this.recovery = this.recover();
    this.startSegment(this.lastSeq + 1);
    this.fsyncTimer = setInterval(() => this.sync(), opts.fsyncIntervalMs);
    this.fsyncTimer.unref();
  }

  /**
   * Gives the event the next seq and buffers it; it reaches the file at the next flush. Returns
   * the seq, or 0 when the journal cannot write (the event is not kept).
   */
  append(event: CapturedEvent): number {
    if (this.closed) throw new Error('journal is closed');
    if (this.failure) return 0;
    if (this.pendingBytes + MAX_RECORD_BYTES > BUFFER_BYTES && !this.write()) return 0;
    const seq = ++this.lastSeq;
    event.seq = seq;
    if (this.pendingCount === 0) {
      this.pendingBytes = FRAME_HEADER;
      this.pendingFirstSeq = seq;
    }
    this.pendingBytes = encodeRecord(event, this.pending, this.pendingBytes);
    this.pendingCount += 1;
    return seq;
  }

  /** Writes what was appended to the file; seals the segment when it is full or old enough. */
  flush(): void {
    if (!this.write()) return;
    const { segmentMaxBytes, segmentMaxAgeMs } = this.opts;
    if (
      this.open.bytes >= segmentMaxBytes ||
      (this.open.bytes > 0 && this.clock.now() - this.openedAt >= segmentMaxAgeMs)
    ) {
      this.seal();
    }
  }

  /** Seals the open segment now, if it holds anything (graceful stop, tests). */
  seal(): SegmentInfo | null {
    if (!this.write() || this.open.bytes === 0) return null;
    try {
      fdatasyncSync(this.fd);
    } catch (err) {
      this.fail(err as Error);
      return null;
    }
    this.durableSeq = this.writtenSeq;
    closeQuietly(this.fd);
    this.fd = -1;
    const done = this.open;
    this.sealed.push(done);
    this.keepIndex(done);
    this.startSegment(done.lastSeq + 1);
    const info = { file: done.file, firstSeq: done.firstSeq, lastSeq: done.lastSeq };
    this.opts.onSeal?.(info);
    return info;
  }

  /**
   * After a failure: makes the open segment whole again (cuts a partly written frame) or opens it,
   * and proves the disk takes a write and an fsync; true once the journal writes again.
   */
  retry(): boolean {
    if (!this.failure || this.closed) return true;
    try {
      if (this.pendingCut) {
        truncateSync(this.pendingCut.file, this.pendingCut.bytes);
        this.pendingCut = null;
      }
      if (this.fd < 0) this.fd = openSync(this.open.file, 'w');
      else {
        ftruncateSync(this.fd, this.open.bytes);
        fdatasyncSync(this.fd);
      }
      probeWrite(this.opts.dir);
    } catch (err) {
      this.failure = err as Error;
      return false;
    }
    this.failure = null;
    this.durableSeq = this.writtenSeq;
    return true;
  }

  /**
   * Puts back records a damaged segment lost, from another copy of them (Parquet): contiguous seqs
   * from a `recovery.lost` range, written as a sealed segment of their own (through a temp file),
   * so the journal and the feed's history are whole again. False if they do not fit a lost range.
   */
  restore(events: CapturedEvent[]): boolean {
    const first = events[0]?.seq ?? 0;
    const last = events[events.length - 1]?.seq ?? 0;
    const contiguous = events.every((e, i) => e.seq === first + i);
    const lost = this.recovery.lost.some((r) => r.fromSeq <= first && last <= r.toSeq);
    const free = this.sealed.every((s) => s.lastSeq < first || s.firstSeq > last);
    if (first === 0 || !contiguous || !lost || !free || last >= this.open.firstSeq) return false;
    const file = path.join(this.opts.dir, `${String(first).padStart(16, '0')}.seg`);
    const tmp = `${file}.restore`;
    const buf = new Views(new ArrayBuffer(BUFFER_BYTES));
    const fd = openSync(tmp, 'w');
    let bytes = 0;
    try {
      for (let i = 0; i < events.length; ) {
        let end = FRAME_HEADER;
        let count = 0;
        for (; i < events.length && end + MAX_RECORD_BYTES <= BUFFER_BYTES; i++, count++) {
          end = encodeRecord(events[i] as CapturedEvent, buf, end);
        }
        buf.u32[0] = end - FRAME_HEADER;
        buf.u32[1] = crc32(buf.u8.subarray(FRAME_HEADER, end));
        buf.u32[2] = count;
        buf.u32[3] = 0;
        writeFully(fd, buf.u8, end, bytes);
        bytes += end;
      }
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const at = this.sealed.findIndex((s) => s.firstSeq > first);
    const segment: Segment = { file, firstSeq: first, lastSeq: last, index: null, bytes };
    this.sealed.splice(at < 0 ? this.sealed.length : at, 0, segment);
    return true;
  }

  sealedSegments(): SegmentInfo[] {
    return this.sealed.map(({ file, firstSeq, lastSeq }) => ({ file, firstSeq, lastSeq }));
  }

  /** Frame index entries held in memory: the open segment's and the indexed sealed ones'. */
  indexEntries(): number {
    return this.indexed.reduce((n, s) => n + (s.index?.length ?? 0), this.open.index?.length ?? 0);
  }

  /** Deletes a sealed segment (once it is safely in Parquet and old enough). */
  remove(segment: SegmentInfo): void {
    const i = this.sealed.findIndex((s) => s.file === segment.file);
    if (i < 0) return;
    const [gone] = this.sealed.splice(i, 1);
    const k = gone ? this.indexed.indexOf(gone) : -1;
    if (k >= 0) this.indexed.splice(k, 1);
    rmSync(segment.file, { force: true });
  }

  /** Every record of a sealed segment, in order. */
  readSegment(segment: SegmentInfo): CapturedEvent[] {
    const out: CapturedEvent[] = [];
    scanFile(segment.file, 0, (e) => {
      out.push(e);
      return true;
    });
    return out;
  }

  /**
   * A sealed segment's records in order, a few thousand at a time, with an event-loop turn between
   * slices. A consumer that lets each slice go (the Parquet converter) never holds the whole
   * segment: a minute at 2,000 trades/s per instrument is ~470k records, ~90 MB of JS objects.
   */
  async *segmentSlices(segment: SegmentInfo, sliceRecords = 5_000): AsyncGenerator<CapturedEvent[]> {
    let out: CapturedEvent[] = [];
    for (const frame of frames(segment.file, 0)) {
      for (const e of frame.events) out.push(e);
      if (out.length >= sliceRecords) {
        yield out;
        out = [];
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (out.length > 0) yield out;
  }

  /** Up to `max` records with seq > afterSeq that are in the file, in order. */
  read(afterSeq: number, max: number): CapturedEvent[] {
    const out: CapturedEvent[] = [];
    const want = afterSeq + 1;
    if (want > this.writtenSeq || max <= 0) return out;
    const all = [...this.sealed, this.open];
    let i = all.findIndex((s) => s.firstSeq <= want && want <= s.lastSeq);
    if (i < 0) i = all.findIndex((s) => s.firstSeq > want && s.lastSeq >= s.firstSeq); // older ones deleted
    for (; i >= 0 && i < all.length && out.length < max; i++) {
      const seg = all[i] as Segment;
      if (seg.lastSeq < seg.firstSeq) continue;
      scanFile(seg.file, frameOffset(this.indexOf(seg), want), (e) => {
        if (e.seq > this.writtenSeq) return false;
        if (e.seq >= want) out.push(e);
        return out.length < max;
      });
    }
    return out;
  }

  /** Writes, syncs and closes; the open segment is sealed by the next open. */
  close(): void {
    if (this.closed) return;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    if (this.write() && this.fd >= 0) {
      try {
        fdatasyncSync(this.fd);
        this.durableSeq = this.writtenSeq;
      } catch {
        // Written but perhaps not durable: `durableSeq` says how far it is.
      }
    }
    if (this.fd >= 0) closeQuietly(this.fd);
    this.fd = -1;
    this.closed = true;
  }

  /** The pending records as one frame, in one write(); false (and `failure`) if it failed. */
  private write(): boolean {
    if (this.failure) return false;
    if (this.pendingCount === 0) return true;
    const { u8, u32 } = this.pending;
    u32[0] = this.pendingBytes - FRAME_HEADER;
    u32[1] = crc32(u8.subarray(FRAME_HEADER, this.pendingBytes));
    u32[2] = this.pendingCount;
    u32[3] = 0;
    if (this.open.bytes === 0) this.openedAt = this.clock.now();
    try {
      if (this.fd < 0) throw new Error(`journal segment ${this.open.file} is not open`);
      writeFully(this.fd, u8, this.pendingBytes, this.open.bytes);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
    this.open.index?.push([this.pendingFirstSeq, this.open.bytes]);
    this.open.bytes += this.pendingBytes;
    this.open.lastSeq = this.lastSeq;
    this.writtenSeq = this.lastSeq;
    this.pendingBytes = 0;
    this.pendingCount = 0;
    return true;
  }

  /**
   * Stops writing: what was not written is dropped (its seqs are handed out again: nobody saw
   * them), and a partly written frame is cut by `retry`.
   */
  private fail(err: Error): void {
    const first = this.failure === null;
    this.failure = err;
    this.lastSeq -= this.pendingCount;
    this.pendingBytes = 0;
    this.pendingCount = 0;
    if (first) this.opts.onError?.(err);
  }

  private sync(): void {
    if (this.syncing || this.closed || this.failure || this.writtenSeq <= this.durableSeq) return;
    this.syncing = true;
    this.unsyncedSeq = this.writtenSeq;
    const fd = this.fd;
    const started = process.hrtime.bigint();
    fdatasync(fd, (err) => {
      this.syncing = false;
      // The fd may have been sealed (and synced) meanwhile; EBADF then is harmless.
      if (err && err.code !== 'EBADF') return this.fail(err);
      if (!err) this.durableSeq = Math.max(this.durableSeq, this.unsyncedSeq);
      this.opts.onFsync?.(Number(process.hrtime.bigint() - started) / 1e9);
    });
  }

  /** The next segment; if its file cannot be created (a read-only disk), `retry` creates it. */
  /** The segment's frame index, rebuilt from the file if it was let go; a sealed one counts as used. */
  private indexOf(seg: Segment): [number, number][] {
    const index = seg.index ?? frameIndex(seg.file);
    seg.index = index;
    if (seg !== this.open) this.keepIndex(seg);
    return index;
  }

  /** Marks a sealed segment's index as just used; the least recently used beyond the bound go. */
  private keepIndex(seg: Segment): void {
    const i = this.indexed.indexOf(seg);
    if (i >= 0) this.indexed.splice(i, 1);
    this.indexed.push(seg);
    while (this.indexed.length > INDEXED_SEALED_SEGMENTS) {
      const oldest = this.indexed.shift();
      if (oldest) oldest.index = null;
    }
  }

  private startSegment(firstSeq: number): void {
    const file = path.join(this.opts.dir, `${String(firstSeq).padStart(16, '0')}.seg`);
    this.open = { file, firstSeq, lastSeq: firstSeq - 1, index: [], bytes: 0 };
    try {
      this.fd = openSync(file, 'w');
    } catch (err) {
      this.fd = -1;
      this.fail(err as Error);
    }
  }

  private recover(): RecoveryReport {
    const report: RecoveryReport = { truncatedBytes: 0, quarantinedTo: null, sealedAtOpen: null, lost: [] };
    const files = readdirSync(this.opts.dir)
      .filter((f) => /^\d{16}\.seg$/.test(f))
      .sort();
    for (const [i, name] of files.entries()) {
      const file = path.join(this.opts.dir, name);
      const firstSeq = Number(name.slice(0, 16));
      const next = files[i + 1];
      const verified = verifyFile(file);
      const goodBytes = verified.goodBytes;
      const lastSeq = verified.lastSeq ?? firstSeq - 1;
      const size = statSync(file).size;
      if (!next) {
        if (goodBytes < size) {
          report.truncatedBytes = size - goodBytes;
          report.quarantinedTo = this.keepAside(file, 'torn');
          this.cut(file, goodBytes);
        }
        if (lastSeq < firstSeq) {
          this.removeQuietly(file); // an empty newest segment: start it again
          continue;
        }
      } else {
        const nextFirst = Number(next.slice(0, 16));
        if (goodBytes < size || lastSeq < nextFirst - 1) {
          // Damaged in the middle of the journal: whatever does not read is gone from here.
          const keptAs = goodBytes < size ? this.keepAside(file, 'damaged') : null;
          if (goodBytes < size) this.cut(file, goodBytes);
          report.lost.push({ fromSeq: lastSeq + 1, toSeq: nextFirst - 1, file, keptAs });
        }
        if (lastSeq < firstSeq) {
          this.removeQuietly(file);
          continue;
        }
      }
      const seg: Segment = { file, firstSeq, lastSeq, index: null, bytes: goodBytes };
      this.sealed.push(seg);
      if (!next) report.sealedAtOpen = { file, firstSeq, lastSeq };
      this.lastSeq = Math.max(this.lastSeq, lastSeq);
    }
    // Seqs handed out before that no segment holds any more: lost inside the journal, or cut off
    // its end (the caller's checkpoint saw them). The next seq comes after all of them.
    this.lastSeq = Math.max(this.lastSeq, ...report.lost.map((r) => r.toSeq));
    const floor = (this.opts.minNextSeq ?? 1) - 1;
    if (floor > this.lastSeq) {
      const file =
        report.sealedAtOpen?.file ??
        this.sealed.at(-1)?.file ??
        path.join(this.opts.dir, `${String(this.lastSeq + 1).padStart(16, '0')}.seg`);
      report.lost.push({ fromSeq: this.lastSeq + 1, toSeq: floor, file, keptAs: report.quarantinedTo });
      this.lastSeq = floor;
    }
    this.writtenSeq = this.lastSeq;
    this.durableSeq = this.lastSeq;
    return report;
  }

  /** null when even the copy cannot be written (a full disk): the report says so. */
  private keepAside(file: string, label: 'torn' | 'damaged'): string | null {
    return keepAside(file, label, this.clock.now());
  }

  /** Cuts a file to what reads; on a read-only disk `retry` does it once the disk takes writes. */
  private cut(file: string, bytes: number): void {
    try {
      const fd = openSync(file, 'r+');
      try {
        ftruncateSync(fd, bytes);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      this.pendingCut = { file, bytes };
      this.fail(err as Error);
    }
  }

  private removeQuietly(file: string): void {
    try {
      rmSync(file);
    } catch (err) {
      this.fail(err as Error);
    }
  }
}

/** Writes and fsyncs a small file beside the journal: the disk takes writes again. */
function probeWrite(dir: string): void {
  const file = path.join(dir, '.write-probe');
  const fd = openSync(file, 'w');
  try {
    writeFully(fd, new Uint8Array(64 * 1024), 64 * 1024, 0);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to keep from a close that fails
  }
}

/** Offset of the frame that holds `seq` (the last frame starting at or before it). */
function frameOffset(index: [number, number][], seq: number): number {
  let lo = 0;
  let hi = index.length - 1;
  let best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, offset] = index[mid] as [number, number];
    if (first <= seq) {
      best = offset;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/** The frame index of a segment written by an earlier run: headers and first seqs only. */
function frameIndex(file: string): [number, number][] {
  const index: [number, number][] = [];
  const fd = openSync(file, 'r');
  try {
    const head = new Views(new ArrayBuffer(32));
    const size = fstatSync(fd).size;
    for (let offset = 0; offset + 32 <= size; ) {
      readSync(fd, head.u8, 0, 32, offset);
      index.push([head.f64[3] as number, offset]); // first record's seq: frame header + 8
      offset += FRAME_HEADER + (head.u32[0] as number);
    }
  } finally {
    closeSync(fd);
  }
  return index;
}

const READ_CHUNK = 1 << 20;

/**
 * Calls `visit` with each record of each valid frame from `offset` on, until it returns false or
 * a frame is torn or fails its checksum. Returns the offset just past the last whole frame read.
 */
function scanFile(file: string, offset: number, visit: (e: CapturedEvent) => boolean): number {
  const it = frames(file, offset);
  for (let step = it.next(); ; step = it.next()) {
    if (step.done) return step.value;
    for (const e of step.value.events) {
      if (!visit(e)) {
        it.return(0);
        return step.value.end;
      }
    }
  }
}

/** A frame that passed its checks, in the read buffer `v`: its records are at [start, end). */
interface RawFrame {
  v: Views;
  start: number;
  end: number;
  count: number;
  /** File offsets of the frame and just past it. */
  fileStart: number;
  fileEnd: number;
}

/**
 * The frames of a file from `offset` whose header and checksum are right, records not looked at;
 * the generator's return value is the offset just past the last such frame.
 */
function* rawFrames(file: string, offset: number): Generator<RawFrame, number> {
  const fd = openSync(file, 'r');
  try {
    let v = new Views(new ArrayBuffer(READ_CHUNK));
    let bufStart = offset; // file offset of v[0]
    let have = readSync(fd, v.u8, 0, READ_CHUNK, bufStart);
    let pos = 0;
    for (;;) {
      const body = have - pos >= FRAME_HEADER ? (v.u32[pos >> 2] as number) : -1;
      if (body === 0 || body > BUFFER_BYTES || (body > 0 && (body & 7) !== 0)) return bufStart + pos; // not a frame
      if (body < 0 || have - pos < FRAME_HEADER + body) {
        // Not a whole frame in the buffer: move what we have to the front and read more.
        const rest = have - pos;
        const next = new Views(new ArrayBuffer(Math.max(READ_CHUNK, FRAME_HEADER + Math.max(body, 0))));
        next.u8.set(v.u8.subarray(pos, have));
        bufStart += pos;
        const got = readSync(fd, next.u8, rest, next.u8.length - rest, bufStart + rest);
        v = next;
        have = rest + got;
        pos = 0;
        if (got === 0) return bufStart; // end of file; `rest` bytes, if any, are a torn frame
        continue;
      }
      const start = pos + FRAME_HEADER;
      const end = start + body;
      if (crc32(v.u8.subarray(start, end)) !== v.u32[(pos >> 2) + 1]) return bufStart + pos;
      // The count and the reserved word are outside the checksum: the records must fill the body
      // exactly (checked by the callers), or the frame is damaged (a smaller count would drop
      // records without a word).
      if (v.u32[(pos >> 2) + 3] !== 0) return bufStart + pos;
      const count = v.u32[(pos >> 2) + 2] as number;
      const fileStart = bufStart + pos;
      pos = end;
      yield { v, start, end, count, fileStart, fileEnd: bufStart + pos };
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The valid frames of a file from `offset`, each with its records and the offset after it; the
 * generator's return value is the offset just past the last whole, valid frame.
 */
function* frames(file: string, offset: number): Generator<{ events: CapturedEvent[]; end: number }, number> {
  const it = rawFrames(file, offset);
  // Whoever stops early (a read that has enough, a converter that failed) ends `rawFrames` too,
  // which closes the file.
  try {
    for (let step = it.next(); ; step = it.next()) {
      if (step.done) return step.value;
      const { v, start, end, count, fileStart, fileEnd } = step.value;
      const events: CapturedEvent[] = [];
      let r = start;
      try {
        for (let n = 0; n < count; n++) {
          const { event, next } = decodeRecord(v, r, end);
          events.push(event);
          r = next;
        }
      } catch {
        return fileStart;
      }
      if (r !== end) return fileStart;
      yield { events, end: fileEnd };
    }
  } finally {
    it.return(0);
  }
}

/**
 * How much of a file is whole, valid frames of well-formed records, and the last seq in them
 * (null when none): what `frames` would read, without building a single event. Opening a journal
 * of hours at 2,000 trades/s per instrument (tens of millions of records) this way takes seconds
 * where decoding them took most of a minute.
 */
function verifyFile(file: string): { goodBytes: number; lastSeq: number | null } {
  let lastSeq: number | null = null;
  const it = rawFrames(file, 0);
  try {
    for (let step = it.next(); ; step = it.next()) {
      if (step.done) return { goodBytes: step.value, lastSeq };
      const { v, start, end, count, fileStart } = step.value;
      let r = start;
      let seq: number | null = lastSeq;
      for (let n = 0; n < count && r >= 0; n++) {
        const next = recordEnd(v, r, end);
        if (next >= 0) seq = recordSeq(v, r);
        r = next;
      }
      if (r !== end) return { goodBytes: fileStart, lastSeq };
      lastSeq = seq;
    }
  } finally {
    it.return(0);
  }
}

/** Writes at `position` (never at the fd's offset: a failed write may have moved it). */
function writeFully(fd: number, buf: Uint8Array, length: number, position: number): void {
  let off = 0;
  while (off < length) off += writeSync(fd, buf, off, length - off, position + off);
}
