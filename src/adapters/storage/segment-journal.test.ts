import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SmallDisk } from '../../../test/helpers/disk.js';
import type { CapturedEvent, CapturedTrade } from '../../domain/market-data.js';
import { ManualClock } from '../../kernel/clock.js';
import {
  INDEXED_SEALED_SEGMENTS,
  type JournalOptions,
  type SegmentInfo,
  SegmentJournal,
} from './segment-journal.js';

const open: SegmentJournal[] = [];
afterEach(() => {
  for (const j of open.splice(0)) j.close();
});

function journal(
  over: Partial<JournalOptions> = {},
  dir = mkdtempSync(path.join(os.tmpdir(), 'ts-journal-')),
) {
  const sealed: SegmentInfo[] = [];
  const j = new SegmentJournal({
    dir,
    fsyncIntervalMs: 5,
    segmentMaxBytes: 1 << 20,
    segmentMaxAgeMs: 60_000,
    onSeal: (s) => sealed.push(s),
    ...over,
  });
  open.push(j);
  return { j, dir, sealed };
}

const trade = (tradeId: number, over: Partial<CapturedTrade> = {}): CapturedTrade => ({
  kind: 'trade',
  seq: 0,
  recvTs: 1_700_000_000_123 + tradeId,
  backfilled: false,
  ticker: 'WINZ26',
  exchange: 'F',
  ts: 1_700_000_000_000 + tradeId,
  tradeId,
  price: 128_000 + 5 * (tradeId % 7),
  qty: 1 + (tradeId % 5),
  aggressor: tradeId % 2 ? 'BUY' : 'SELL',
  buyAgent: 3,
  sellAgent: 308,
  ...over,
});

function closeAndForget(j: SegmentJournal) {
  j.close();
  open.splice(open.indexOf(j), 1);
}

describe('SegmentJournal', () => {
  it('assigns sequence numbers and reads back exactly what was written', () => {
    const { j } = journal();
    const quote: CapturedEvent = {
      kind: 'quote',
      seq: 0,
      recvTs: 5,
      ticker: 'PETR4',
      exchange: 'B',
      ts: 4,
      bidPrice: 38.51,
      bidQty: 300,
      askPrice: 38.52,
      askQty: 1200,
    };
    const events: CapturedEvent[] = [trade(1), trade(2, { backfilled: true, aggressor: 'NONE' }), quote];
    expect(events.map((e) => j.append(e))).toEqual([1, 2, 3]);
    expect(j.read(0, 10)).toEqual([]); // not written yet: nothing is readable before flush
    j.flush();
    expect(j.read(0, 10)).toEqual(events);
    expect(j.read(1, 1)).toEqual([events[1]]);
    expect(j.read(3, 10)).toEqual([]);
  });

  it('seals on size and on age, hands sealed segments over, and reads across them', () => {
    const clock = new ManualClock(0);
    const { j, sealed } = journal({ segmentMaxBytes: 4096, clock });
    for (let i = 1; i <= 300; i++) {
      j.append(trade(i));
      if (i % 10 === 0) j.flush();
    }
    j.flush();
    expect(sealed.length).toBeGreaterThan(2);
    expect(sealed[0]?.firstSeq).toBe(1);
    for (let k = 1; k < sealed.length; k++)
      expect(sealed[k]?.firstSeq).toBe((sealed[k - 1]?.lastSeq ?? 0) + 1);
    const all = j.read(0, 1000);
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(j.read(150, 20).map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 151 + i));
    const seg = sealed[1] as SegmentInfo;
    expect(j.readSegment(seg).map((e) => e.seq)).toEqual(
      Array.from({ length: seg.lastSeq - seg.firstSeq + 1 }, (_, i) => seg.firstSeq + i),
    );

    const before = sealed.length;
    j.append(trade(301));
    j.flush();
    clock.advance(60_000);
    j.flush();
    expect(sealed.length).toBe(before + 1);
    expect(sealed.at(-1)?.lastSeq).toBe(301);
  });

  it('hands a sealed segment over in bounded slices that add up to the whole segment', async () => {
    const { j, sealed } = journal({ segmentMaxBytes: 64 << 20 });
    for (let i = 1; i <= 12_345; i++) {
      j.append(trade(i));
      if (i % 100 === 0) j.flush(); // frames of 100 records, as the tick path writes them
    }
    j.seal();
    const seg = sealed[0] as SegmentInfo;
    const sizes: number[] = [];
    const seqs: number[] = [];
    for await (const slice of j.segmentSlices(seg, 1_000)) {
      sizes.push(slice.length);
      for (const e of slice) seqs.push(e.seq);
    }
    // A slice stops at the frame that reaches the bound: never more than bound + one frame.
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1_000 + 100);
    expect(sizes.length).toBeGreaterThan(10);
    expect(seqs).toEqual(j.readSegment(seg).map((e) => e.seq));
    expect(seqs).toHaveLength(12_345);
  });

  it('closes its files when a reader stops early: a read that has enough, a converter that gives up', async () => {
    const { j, sealed } = journal({ segmentMaxBytes: 64 << 20 });
    for (let i = 1; i <= 5_000; i++) {
      j.append(trade(i));
      if (i % 100 === 0) j.flush();
    }
    j.seal();
    const seg = sealed[0] as SegmentInfo;
    const openFiles = () => readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let k = 0; k < 100; k++) expect(j.read(k * 10, 3)).toHaveLength(3);
    for (let k = 0; k < 20; k++) {
      for await (const slice of j.segmentSlices(seg, 500)) {
        expect(slice.length).toBeGreaterThan(0);
        break; // as `writeSegment` stops reading when DuckDB fails
      }
    }
    // One feed client catching up reads once per 1,000 records: a file left open per read ran
    // out of descriptors after some millions, and then the journal could not open its next segment.
    expect(openFiles()).toBe(before);
  });

  it('finds any seq in a large segment through its index', () => {
    const { j } = journal({ segmentMaxBytes: 64 << 20 });
    for (let i = 1; i <= 10_000; i++) j.append(trade(i));
    j.flush();
    expect(j.read(7_777, 3).map((e) => e.seq)).toEqual([7_778, 7_779, 7_780]);
    j.seal();
    expect(j.read(1_024, 2).map((e) => e.seq)).toEqual([1_025, 1_026]);
  });

  it('keeps the frame index of a bounded number of sealed segments, and still reads any seq', () => {
    const { j, sealed } = journal({ segmentMaxBytes: 64 << 20 });
    const FRAMES = 50;
    const SEGMENTS = 40;
    let id = 0;
    for (let s = 0; s < SEGMENTS; s++) {
      for (let f = 0; f < FRAMES; f++) {
        j.append(trade(++id));
        j.append(trade(++id));
        j.flush(); // one frame, one index entry
      }
      j.seal();
    }
    expect(sealed).toHaveLength(SEGMENTS);
    // Unbounded, every sealed segment kept its index: 40 × 50 entries, and more each segment.
    const bound = (INDEXED_SEALED_SEGMENTS + 1) * FRAMES;
    expect(j.indexEntries()).toBeLessThanOrEqual(bound);
    // Reads anywhere still work (indexes rebuilt from the file) and do not lift the bound.
    for (let s = 0; s < SEGMENTS; s++) {
      const at = s * FRAMES * 2 + 37;
      expect(j.read(at, 3).map((e) => e.seq)).toEqual([at + 1, at + 2, at + 3]);
    }
    expect(j.indexEntries()).toBeLessThanOrEqual(bound);
    expect(j.read(0, 1_000_000)).toHaveLength(SEGMENTS * FRAMES * 2);
  });

  it('continues the sequence after a reopen and seals what the last run left open', () => {
    const { j, dir } = journal();
    for (let i = 1; i <= 5; i++) j.append(trade(i));
    j.flush();
    closeAndForget(j);
    const again = journal({}, dir);
    expect(again.j.recovery).toMatchObject({ truncatedBytes: 0, sealedAtOpen: { firstSeq: 1, lastSeq: 5 } });
    expect(again.j.append(trade(6))).toBe(6);
    again.j.flush();
    expect(again.j.read(0, 100).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('cuts off a torn last frame, keeps the bytes aside, and loses nothing before it', () => {
    const { j, dir } = journal();
    for (let i = 1; i <= 50; i++) j.append(trade(i));
    j.flush();
    const file = path.join(dir, '0000000000000001.seg');
    closeAndForget(j);
    const goodSize = statSync(file).size;
    // Half a frame: a header promising more bytes than follow.
    const torn = Buffer.alloc(20);
    torn.writeUInt32LE(72, 0);
    appendFileSync(file, torn);

    const again = journal({}, dir);
    expect(again.j.recovery.truncatedBytes).toBe(20);
    expect(statSync(file).size).toBe(goodSize);
    expect(existsSync(again.j.recovery.quarantinedTo as string)).toBe(true);
    expect(again.j.read(0, 100).map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(again.j.append(trade(51))).toBe(51);
  });

  it('cuts off a last frame whose checksum does not match', () => {
    const { j, dir } = journal();
    for (let i = 1; i <= 9; i++) j.append(trade(i));
    j.flush();
    j.append(trade(10));
    j.flush();
    closeAndForget(j);
    const file = path.join(dir, '0000000000000001.seg');
    const bytes = readFileSync(file);
    const lastByte = bytes.length - 1;
    bytes[lastByte] = (bytes[lastByte] as number) ^ 0xff;
    writeFileSync(file, bytes);
    const again = journal({}, dir);
    expect(again.j.recovery.truncatedBytes).toBeGreaterThan(0);
    expect(again.j.read(0, 100).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(again.j.append(trade(10))).toBe(10);
  });

  it('takes a frame whose record count or reserved word was damaged (outside the checksum) as damaged', () => {
    for (const word of [2, 3]) {
      const { j, dir } = journal();
      for (let i = 1; i <= 5; i++) j.append(trade(i));
      j.flush();
      for (let i = 6; i <= 9; i++) j.append(trade(i));
      j.flush();
      closeAndForget(j);
      const file = path.join(dir, '0000000000000001.seg');
      const bytes = readFileSync(file);
      const second = 16 + bytes.readUInt32LE(0); // the second frame's header
      bytes.writeUInt32LE(word === 2 ? 1 : 7, second + word * 4);
      writeFileSync(file, bytes);
      const again = journal({}, dir);
      expect(again.j.recovery.truncatedBytes, `word ${word}`).toBeGreaterThan(0);
      expect(again.j.read(0, 100).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('makes written records durable within the fsync interval', async () => {
    const fsyncs: number[] = [];
    const { j } = journal({ fsyncIntervalMs: 5, onFsync: (s) => fsyncs.push(s) });
    j.append(trade(1));
    j.flush();
    expect(j.writtenSeq).toBe(1);
    for (let i = 0; i < 100 && j.durableSeq < 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(j.durableSeq).toBe(1);
    expect(fsyncs.length).toBeGreaterThan(0);
  });

  it('takes nothing while the disk is full, loses nothing it wrote, and writes again once there is space', () => {
    const disk = SmallDisk.mount(4);
    try {
      const errors: Error[] = [];
      const { j, dir } = journal({ onError: (e) => errors.push(e) }, disk.dir);
      for (let i = 1; i <= 100; i++) j.append(trade(i));
      j.flush();
      expect(j.writtenSeq).toBe(100);
      disk.fill();
      // A frame big enough to need a new page of the file.
      for (let i = 101; i <= 300; i++) j.append(trade(i));
      j.flush();
      expect(j.failure?.message).toContain('ENOSPC');
      expect(errors).toHaveLength(1);
      expect(j.writtenSeq).toBe(100);
      expect(j.append(trade(301)), 'nothing taken while failed').toBe(0);
      expect(j.retry(), 'still full').toBe(false);
      disk.free();
      expect(j.retry()).toBe(true);
      expect(j.failure).toBeNull();
      // The dropped seqs were never seen: they are handed out again, after the written ones.
      expect(j.append(trade(101))).toBe(101);
      j.flush();
      expect(j.read(0, 1_000).map((e) => (e as CapturedTrade).tradeId)).toEqual(
        Array.from({ length: 101 }, (_, i) => i + 1),
      );
      closeAndForget(j);
      // No torn frame left behind: a reopen reads the same and cuts nothing.
      const again = journal({}, disk.dir);
      expect(again.j.recovery.truncatedBytes).toBe(0);
      expect(again.j.read(0, 1_000)).toHaveLength(101);
      closeAndForget(again.j);
      expect(dir).toBe(disk.dir);
    } finally {
      disk.unmount();
    }
  });

  it('survives a read-only folder at a segment roll and at open, and resumes once writable', () => {
    const disk = SmallDisk.mount(8);
    try {
      const { j } = journal({}, disk.dir);
      for (let i = 1; i <= 10; i++) j.append(trade(i));
      j.flush();
      SmallDisk.freeze(disk.dir);
      expect(j.seal()).not.toBeNull(); // sealed; its successor cannot be created
      expect(j.failure?.message).toContain('EPERM');
      expect(j.append(trade(11))).toBe(0);
      closeAndForget(j);
      // A start on the read-only folder: it opens, reads what is there, and waits to write.
      const ro = journal({}, disk.dir);
      expect(ro.j.failure?.message).toContain('EPERM');
      expect(ro.j.read(0, 100)).toHaveLength(10);
      expect(ro.j.retry()).toBe(false);
      SmallDisk.thaw(disk.dir);
      expect(ro.j.retry()).toBe(true);
      expect(ro.j.append(trade(11))).toBe(11);
      ro.j.flush();
      expect(ro.j.read(0, 100).map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
      closeAndForget(ro.j);
    } finally {
      SmallDisk.thaw(disk.dir);
      disk.unmount();
    }
  });

  it('reports the seqs a damaged older segment lost, keeps it aside, and reads the rest', () => {
    const clock = new ManualClock(0);
    const { j, dir } = journal({ segmentMaxBytes: 4096, clock });
    for (let i = 1; i <= 400; i++) {
      j.append(trade(i));
      if (i % 10 === 0) j.flush();
    }
    j.flush();
    const segments = j.sealedSegments();
    expect(segments.length).toBeGreaterThan(3);
    closeAndForget(j);
    const victim = segments[1] as SegmentInfo;
    const bytes = readFileSync(victim.file);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0xff; // inside its last frame
    writeFileSync(victim.file, bytes);

    const again = journal({ segmentMaxBytes: 4096, clock }, dir);
    const [lost] = again.j.recovery.lost;
    expect(again.j.recovery.lost).toHaveLength(1);
    expect(lost?.toSeq).toBe(victim.lastSeq);
    expect(lost?.fromSeq).toBeGreaterThan(victim.firstSeq);
    expect(lost?.fromSeq).toBeLessThanOrEqual(victim.lastSeq);
    expect(readFileSync(lost?.keptAs as string)).toEqual(bytes);
    const seqs = again.j.read(0, 1_000).map((e) => e.seq);
    const missing = Array.from({ length: 400 }, (_, i) => i + 1).filter((n) => !seqs.includes(n));
    expect(missing[0]).toBe(lost?.fromSeq);
    expect(missing.at(-1)).toBe(lost?.toSeq);
    // The segment was cut to what reads: a later open still says what is missing, with no new copy.
    closeAndForget(again.j);
    const third = journal({ segmentMaxBytes: 4096, clock }, dir).j.recovery.lost;
    expect(third).toEqual([{ ...lost, keptAs: null }]);
  });

  it('never hands out a seq below the floor it is given, and reports the ones it no longer holds', () => {
    const { j, dir } = journal();
    for (let i = 1; i <= 5; i++) j.append(trade(i));
    j.flush();
    closeAndForget(j);
    // A checkpoint saw seq 8: records 6..8 were written once and are gone (a damaged tail).
    const again = journal({ minNextSeq: 9 }, dir);
    expect(again.j.recovery.lost).toMatchObject([{ fromSeq: 6, toSeq: 8 }]);
    expect(again.j.append(trade(6))).toBe(9);
  });
});
