import { describe, expect, it } from 'vitest';
import { parseFrom } from './protocol.js';
import { type Frame, Ring } from './ring.js';

const rec = (seq: number, data = `r${seq}`) => JSON.stringify({ seq, data });
const seqs = (f: Frame | undefined) =>
  f ? (JSON.parse(f.data.toString()) as { records: { seq: number }[] }).records.map((r) => r.seq) : [];
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('feed ring', () => {
  it('keeps at least capacity records in whole segments and frames across them', () => {
    const ring = new Ring(4);
    for (let s = 1; s <= 10; s++) ring.push(s, rec(s));
    expect(seqs(ring.frame(5))).toEqual(range(5, 10));
    expect([ring.first, ring.last]).toEqual([5, 10]);
    expect(seqs(ring.frame(7))).toEqual(range(7, 10));
    expect(ring.frame(4)).toBeUndefined();
    expect(ring.frame(11)).toBeUndefined();
    for (let s = 11; s <= 1_000; s++) {
      ring.push(s, rec(s));
      if (s % 3 === 0) ring.seal();
    }
    ring.seal();
    expect(ring.size).toBeGreaterThanOrEqual(4);
    expect(ring.size).toBeLessThan(8);
    expect(seqs(ring.frame(ring.first))).toEqual(range(ring.first, 1_000));
  });

  it('hands out a whole segment as the same Buffer and caps frames at maxFrameRecords', () => {
    const ring = new Ring(100, 10);
    for (let s = 1; s <= 25; s++) ring.push(s, rec(s));
    const f = ring.frame(1);
    expect(f?.data).toBe(ring.frame(1)?.data);
    expect(seqs(f)).toEqual(range(1, 10));
    expect(seqs(ring.frame(5))).toEqual(range(5, 14));
    expect(seqs(ring.frame(21))).toEqual(range(21, 25));
  });

  it('cuts records at byte offsets when the JSON is not ASCII', () => {
    const ring = new Ring(100);
    for (let s = 1; s <= 5; s++) ring.push(s, rec(s, 'ação ✓ 📈'.repeat(s)));
    ring.seal();
    const f = ring.frame(3);
    expect(seqs(f)).toEqual([3, 4, 5]);
    expect(JSON.parse(f?.data.toString() ?? '').records[0].data).toBe('ação ✓ 📈'.repeat(3));
  });

  it('keeps each segment in memory of its own size, not in a block of the shared Buffer pool', () => {
    // A quiet feed: one record per turn, with the rest of the process allocating small Buffers
    // between seals (socket frames, HTTP), so each segment lands in another block of the pool.
    // One record per frame too, so frame(seq) hands out the segment's own Buffer.
    const ring = new Ring(1_000, 1);
    for (let s = 1; s <= 1_000; s++) {
      ring.push(s, rec(s));
      Buffer.from('x'.repeat(Buffer.poolSize / 2 - 1)); // the rest of the process
    }
    const held = new Set<ArrayBufferLike>();
    let recordBytes = 0;
    for (let s = ring.first; s <= ring.last; s++) {
      const f = ring.frame(s) as Frame;
      expect(f.data).toBe(ring.frame(s)?.data);
      held.add(f.data.buffer);
      recordBytes += f.data.length;
    }
    const heldBytes = [...held].reduce((n, b) => n + b.byteLength, 0);
    expect(ring.size).toBe(1_000);
    // Without a buffer of its own each ~40-byte segment keeps an 8 KiB block: 8 MiB for 40 KB.
    expect(heldBytes).toBeLessThanOrEqual(2 * recordBytes);
  });

  it('starts anew when a publish skips seqs, so it never holds a hole', () => {
    const ring = new Ring(8);
    ring.push(1, rec(1));
    ring.push(2, rec(2));
    ring.seal();
    ring.push(5, rec(5));
    expect([ring.first, ring.last]).toEqual([5, 5]);
    expect(ring.has(2)).toBe(false);
    expect(seqs(ring.frame(5))).toEqual([5]);
  });
});

describe('feed from parameter', () => {
  const from = (q: string, last = 10) => parseFrom(new URLSearchParams(q), last);
  it('accepts absent (live only) and 0..lastSeq', () => {
    expect(from('')).toEqual({ ok: true, from: undefined });
    expect(from('from=0')).toEqual({ ok: true, from: 0 });
    expect(from('from=10')).toEqual({ ok: true, from: 10 });
  });
  it('rejects non-integers, negatives, repeats and seqs past the last', () => {
    for (const q of ['from=', 'from=-1', 'from=1.5', 'from=abc', 'from=1e3', 'from=11', 'from=1&from=2']) {
      expect(from(q).ok, q).toBe(false);
    }
  });
});
