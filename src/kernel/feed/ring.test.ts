import { describe, expect, it } from 'vitest';
import { parseFrom } from './protocol.js';
import { Ring } from './ring.js';

const seqs = (text: string) => (text ? (JSON.parse(`[${text}]`) as { seq: number }[]).map((r) => r.seq) : []);
const rec = (seq: number) => `{"seq":${seq},"data":"r${seq}"}`;

describe('feed ring', () => {
  it('keeps at least capacity records, whole segments, and slices across segments', () => {
    const ring = new Ring(4);
    for (let s = 1; s <= 10; s++) ring.push(s, rec(s));
    expect([ring.first, ring.last]).toEqual([5, 10]);
    expect(ring.has(4)).toBe(false);
    expect(seqs(ring.slice(5, 100).text)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(ring.slice(7, 3)).toMatchObject({ count: 3 });
    expect(seqs(ring.slice(7, 3).text)).toEqual([7, 8, 9]);
    expect(ring.slice(4, 2)).toEqual({ text: '', count: 0 });
    for (let s = 11; s <= 1_000; s++) {
      ring.push(s, rec(s));
      if (s % 3 === 0) ring.seal();
    }
    ring.seal();
    expect(ring.size).toBeGreaterThanOrEqual(4);
    expect(ring.size).toBeLessThan(8);
    expect(seqs(ring.slice(ring.first, 10).text)).toEqual(
      Array.from({ length: ring.size }, (_, i) => ring.first + i),
    );
  });

  it('starts anew when a publish skips seqs, so it never holds a hole', () => {
    const ring = new Ring(8);
    ring.push(1, rec(1));
    ring.push(2, rec(2));
    ring.seal();
    ring.push(5, rec(5));
    expect([ring.first, ring.last]).toEqual([5, 5]);
    expect(ring.has(2)).toBe(false);
    expect(seqs(ring.slice(5, 10).text)).toEqual([5]);
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
