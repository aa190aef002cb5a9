import { describe, expect, it } from 'vitest';
import { UsedTokens } from './used-tokens.js';

describe('UsedTokens', () => {
  it('refuses a nonce twice until it expires, forgets expired ones, and stays bounded', () => {
    let now = 1_000;
    const used = new UsedTokens(() => now, 3);
    expect(used.claim('a', 2_000)).toBe(true);
    expect(used.claim('a', 2_000)).toBe(false);
    expect(used.claim('b', 3_000)).toBe(true);
    expect(used.claim('c', 3_000)).toBe(true);
    // Full of live nonces: a new token is refused rather than an old nonce forgotten.
    expect(used.claim('d', 3_000)).toBe(false);
    expect(used.claim('b', 3_000)).toBe(false);
    now = 2_000; // 'a' has expired (its token no longer verifies), so its slot is free.
    expect(used.claim('d', 3_000)).toBe(true);
    expect(used.size).toBe(3);
    now = 3_000;
    expect(used.claim('e', 4_000)).toBe(true);
    expect(used.size).toBe(1);
  });
});
