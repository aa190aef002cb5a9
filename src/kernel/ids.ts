import { randomUUID } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562): the first 48 bits are the Unix time in ms, the other 74 random. Ids made
 * later sort later, so an index on them grows at its end instead of dirtying a random page per
 * insert (the order journal's index of events by order id: fewer pages, and a shorter fsync, per
 * commit).
 */
export function timeOrderedUuid(nowMs: number): string {
  const time = Math.floor(nowMs).toString(16).padStart(12, '0');
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}
