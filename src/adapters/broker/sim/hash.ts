/**
 * A fast, well-mixed 32-bit integer hash (murmur3's finalizer). The simulated market is a pure
 * function of hashed coordinates, so every process recomputes the same tape without shared state.
 */
export function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const TWO_POW_32 = 4_294_967_296;

/** Folds one more coordinate into a hash; values above 2^32 (trade numbers) keep their high bits. */
export function combine(hash: number, value: number): number {
  const high = Math.floor(value / TWO_POW_32) >>> 0;
  let h = mix32((hash ^ Math.imul(value >>> 0, 0xcc9e2d51)) + 0x9e3779b9);
  if (high !== 0) h = mix32(h ^ Math.imul(high, 0x1b873593));
  return h;
}

/** FNV-1a of a string, to turn a symbol into a hash coordinate. */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** A hash as a uniform number in [0, 1). */
export function unit(hash: number): number {
  return hash / TWO_POW_32;
}
