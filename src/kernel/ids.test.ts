import { describe, expect, it } from 'vitest';
import { timeOrderedUuid } from './ids.js';

describe('timeOrderedUuid', () => {
  it('is a version 7 UUID that carries its millisecond and sorts by it', () => {
    const at = Date.parse('2026-03-16T15:00:00.123Z');
    const id = timeOrderedUuid(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replace('-', '').slice(0, 12), 16)).toBe(at);
    const ids = [at, at + 1, at + 1_000, at + 86_400_000].map((t) => timeOrderedUuid(t));
    expect([...ids].sort()).toEqual(ids);
    const sameMs = new Set(Array.from({ length: 1_000 }, () => timeOrderedUuid(at)));
    expect(sameMs.size).toBe(1_000);
  });
});
