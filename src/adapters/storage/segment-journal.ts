import {
  closeSync,
  copyFileSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { CapturedEvent } from '../../domain/market-data.js';
import { type Clock, systemClock } from '../../kernel/clock.js';
import { crc32 } from './crc32.js';
import { decodeEvent, encodeEvent, MAX_PAYLOAD_BYTES } from './market-codec.js';

/**
 * The market-data journal: append-only segment files of checksummed records.
 *
 *   {dir}/{firstSeq, 16 digits}.seg     record = u32 payload length | u32 CRC-32 of payload | payload
 *
 * Appends are encoded into a buffer and written with one write() per flush, which the capture
 * path calls before it publishes anything, so a record is in the file (the OS's page cache) before
 * anyone sees it; the file is fdatasync'ed every `fsyncIntervalMs`. Only the newest segment is
 * open; a segment seals on size or age, and a sealed segment is handed to `onSeal` (for Parquet).
 * At open, a torn or corrupt tail of the newest segment is cut off (and kept aside) and that
 * segment is sealed.
 */
export interface JournalOptions {
  dir: string;
  fsyncIntervalMs: number;
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  clock?: Clock;
  onSeal?: (segment: SegmentInfo) => void;
  onFsync?: (seconds: number) => void;
  onError?: (err: Error) => void;
}

export interface SegmentInfo {
  file: string;
  firstSeq: number;
  lastSeq: number;
}

export interface RecoveryReport {
  /** Bytes cut off the end of the newest segment (a torn or corrupt tail). */
  truncatedBytes: number;
  /** Where the cut-off bytes were kept, when there were any. */
  quarantinedTo: string | null;
  /** The newest segment found at open, now sealed, if it held records. */
  sealedAtOpen: SegmentInfo | null;
}

const HEADER = 8;
const BUFFER_BYTES = 1 << 20;
const INDEX_EVERY = 1024;

interface Segment extends SegmentInfo {
  /** Every INDEX_EVERY-th record: [seq, byte offset]; lets a read start near any seq. */
  index: [number, number][] | null;
  bytes: number;
}

export class SegmentJournal {
  private readonly clock: Clock;
  private readonly sealed: Segment[] = [];
  private open!: Segment;
  private fd = -1;
  private pending = Buffer.allocUnsafe(BUFFER_BYTES);
  private pendingBytes = 0;
  private openedAt = 0;
  private fsyncTimer: NodeJS.Timeout | null = null;
  private syncing = false;
  private unsyncedSeq = 0;
  private closed = false;
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

  /** Gives the event the next seq and buffers it; it reaches the file at the next flush. */
  append(event: CapturedEvent): number {
    if (this.closed) throw new Error('journal is closed');
    if (this.pendingBytes + HEADER + MAX_PAYLOAD_BYTES > this.pending.length) this.flush();
    const seq = ++this.lastSeq;
    event.seq = seq;
    const start = this.pendingBytes;
    const end = encodeEvent(event, this.pending, start + HEADER);
    this.pending.writeUInt32LE(end - start - HEADER, start);
    this.pending.writeUInt32LE(crc32(this.pending, start + HEADER, end), start + 4);
    if ((seq - this.open.firstSeq) % INDEX_EVERY === 0) this.open.index?.push([seq, this.open.bytes + start]);
    this.pendingBytes = end;
    return seq;
  }

  /** Writes what was appended to the file; seals the segment when it is full or old enough. */
  flush(): void {
    this.write();
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
    this.write();
    if (this.open.bytes === 0) return null;
    fdatasyncSync(this.fd);
    this.durableSeq = this.writtenSeq;
    closeSync(this.fd);
    const done = this.open;
    this.sealed.push(done);
    this.startSegment(done.lastSeq + 1);
    const info = { file: done.file, firstSeq: done.firstSeq, lastSeq: done.lastSeq };
    this.opts.onSeal?.(info);
    return info;
  }

  sealedSegments(): SegmentInfo[] {
    return this.sealed.map(({ file, firstSeq, lastSeq }) => ({ file, firstSeq, lastSeq }));
  }

  /** Deletes a sealed segment (once it is safely in Parquet and old enough). */
  remove(segment: SegmentInfo): void {
    const i = this.sealed.findIndex((s) => s.file === segment.file);
    if (i < 0) return;
    this.sealed.splice(i, 1);
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
      const from = startOffset(seg, want);
      scanFile(seg.file, from, (e) => {
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
    this.write();
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    fdatasyncSync(this.fd);
    this.durableSeq = this.writtenSeq;
    closeSync(this.fd);
    this.closed = true;
  }

  private write(): void {
    if (this.pendingBytes === 0) return;
    if (this.open.bytes === 0) this.openedAt = this.clock.now();
    writeFully(this.fd, this.pending, this.pendingBytes);
    this.open.bytes += this.pendingBytes;
    this.open.lastSeq = this.lastSeq;
    this.writtenSeq = this.lastSeq;
    this.pendingBytes = 0;
  }

  private sync(): void {
    if (this.syncing || this.closed || this.writtenSeq <= this.durableSeq) return;
    this.syncing = true;
    this.unsyncedSeq = this.writtenSeq;
    const fd = this.fd;
    const started = process.hrtime.bigint();
    fdatasync(fd, (err) => {
      this.syncing = false;
      // The fd may have been sealed (and synced) meanwhile; EBADF then is harmless.
      if (err && err.code !== 'EBADF') return this.opts.onError?.(err);
      if (!err) this.durableSeq = Math.max(this.durableSeq, this.unsyncedSeq);
      this.opts.onFsync?.(Number(process.hrtime.bigint() - started) / 1e9);
    });
  }

  private startSegment(firstSeq: number): void {
    const file = path.join(this.opts.dir, `${String(firstSeq).padStart(16, '0')}.seg`);
    this.fd = openSync(file, 'w');
    this.open = { file, firstSeq, lastSeq: firstSeq - 1, index: [], bytes: 0 };
  }

  private recover(): RecoveryReport {
    const report: RecoveryReport = { truncatedBytes: 0, quarantinedTo: null, sealedAtOpen: null };
    const files = readdirSync(this.opts.dir)
      .filter((f) => /^\d{16}\.seg$/.test(f))
      .sort();
    for (const [i, name] of files.entries()) {
      const file = path.join(this.opts.dir, name);
      const firstSeq = Number(name.slice(0, 16));
      const newest = i === files.length - 1;
      let lastSeq = firstSeq - 1;
      const goodBytes = scanFile(file, 0, (e) => {
        lastSeq = e.seq;
        return true;
      });
      if (newest) {
        const size = fstatSize(file);
        if (goodBytes < size) {
          report.truncatedBytes = size - goodBytes;
          report.quarantinedTo = `${file}.torn-${this.clock.now()}`;
          copyFileSync(file, report.quarantinedTo);
          const fd = openSync(file, 'r+');
          ftruncateSync(fd, goodBytes);
          fdatasyncSync(fd);
          closeSync(fd);
        }
        if (lastSeq < firstSeq) {
          rmSync(file); // an empty newest segment: start it again
          continue;
        }
      }
      const seg: Segment = { file, firstSeq, lastSeq, index: null, bytes: goodBytes };
      this.sealed.push(seg);
      if (newest) report.sealedAtOpen = { file, firstSeq, lastSeq };
      this.lastSeq = Math.max(this.lastSeq, lastSeq);
    }
    this.writtenSeq = this.lastSeq;
    this.durableSeq = this.lastSeq;
    return report;
  }
}

function startOffset(seg: Segment, seq: number): number {
  if (!seg.index) {
    const index: [number, number][] = [];
    let n = 0;
    scanFile(seg.file, 0, (e, at) => {
      if (n++ % INDEX_EVERY === 0) index.push([e.seq, at]);
      return true;
    });
    seg.index = index;
  }
  let best = 0;
  for (const [s, off] of seg.index) {
    if (s > seq) break;
    best = off;
  }
  return best;
}

const READ_CHUNK = 1 << 20;

/**
 * Calls `visit` with each valid record from `offset` on, until it returns false or a record is
 * torn or fails its checksum. Returns the offset just past the last valid record visited.
 */
function scanFile(file: string, offset: number, visit: (e: CapturedEvent, at: number) => boolean): number {
  const fd = openSync(file, 'r');
  try {
    let buf = Buffer.allocUnsafe(READ_CHUNK);
    let bufStart = offset; // file offset of buf[0]
    let have = readSync(fd, buf, 0, buf.length, bufStart);
    let pos = 0;
    for (;;) {
      if (have - pos < HEADER || have - pos < HEADER + buf.readUInt32LE(pos)) {
        // Refill: move the partial record to the front and read more.
        const rest = have - pos;
        const need = rest >= HEADER ? HEADER + buf.readUInt32LE(pos) : HEADER;
        if (need > MAX_PAYLOAD_BYTES + HEADER) return bufStart + pos; // garbage length: corrupt
        const next = Buffer.allocUnsafe(Math.max(READ_CHUNK, need));
        buf.copy(next, 0, pos, have);
        bufStart += pos;
        const got = readSync(fd, next, rest, next.length - rest, bufStart + rest);
        buf = next;
        have = rest + got;
        pos = 0;
        if (got === 0) return bufStart; // end of file (a torn record, if rest > 0)
        continue;
      }
      const len = buf.readUInt32LE(pos);
      const start = pos + HEADER;
      if (crc32(buf, start, start + len) !== buf.readUInt32LE(pos + 4)) return bufStart + pos;
      let event: CapturedEvent;
      try {
        event = decodeEvent(buf, start, start + len);
      } catch {
        return bufStart + pos;
      }
      const at = bufStart + pos;
      pos = start + len;
      if (!visit(event, at)) return bufStart + pos;
    }
  } finally {
    closeSync(fd);
  }
}

function fstatSize(file: string): number {
  const fd = openSync(file, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

function writeFully(fd: number, buf: Buffer, length: number): void {
  let off = 0;
  while (off < length) off += writeSync(fd, buf, off, length - off);
}
