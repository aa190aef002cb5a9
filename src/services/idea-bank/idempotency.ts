import { createHash } from 'node:crypto';
import Type, { type Static } from 'typebox';
import type { Idea } from '../../domain/ideas.js';
import { fail } from '../../kernel/errors.js';

/**
 * `Idempotency-Key` on `POST /api/items`: a client that retries a create (its first answer lost to
 * a network error) sends the same key and gets the idea the first request made, never a second one.
 * The order manager's `clientOrderId` works the same way: a known key answers 200 with what it
 * made. Each key is written to `ideas.json` in the same write as its idea, so a retry after a
 * restart finds it, and is kept for KEY_TTL_MS.
 */
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** How long a key is remembered: a day covers any client's retries. */
export const KEY_TTL_MS = 24 * 60 * 60 * 1000;

/** The order manager's id rules (clientOrderId): 1–64 of A–Z a–z 0–9 . _ : - (a UUID fits). */
export const IdempotencyKey = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9._:-]+$',
  description: 'Makes a retried create safe: the same key answers the idea it created (200)',
});

/** What the file keeps per key: the idea it created and one hash per field of the request. */
export const KeyRecordSchema = Type.Object(
  {
    key: IdempotencyKey,
    ideaId: Type.String({ format: 'uuid' }),
    at: Type.String({ format: 'date-time' }),
    request: Type.Record(Type.String(), Type.String()),
  },
  { additionalProperties: false },
);
export type KeyRecord = Static<typeof KeyRecordSchema>;

/** The fields a create sets, as they are stored (trimmed, defaulted, tags normalized). */
export type NewIdeaFields = Pick<Idea, 'title' | 'description' | 'category' | 'priority' | 'tags'>;

/** One hash per field, so a key reused with another body can say which fields differ. */
export function fingerprint(fields: NewIdeaFields): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    out[name] = createHash('sha256').update(JSON.stringify(value)).digest('base64url');
  }
  return out;
}

export const isLive = (record: KeyRecord, nowMs: number): boolean =>
  Date.parse(record.at) + KEY_TTL_MS > nowMs;

/**
 * The answer to a create whose key is known and live: the idea it made, or a refusal when the
 * body differs (422, naming the fields) or the idea has been deleted since (410). The caller
 * creates a new idea only for an unknown or expired key.
 */
export function replay(
  record: KeyRecord,
  request: Record<string, string>,
  ideaOf: (id: string) => Idea | undefined,
): Idea {
  const differs = [...new Set([...Object.keys(record.request), ...Object.keys(request)])].filter(
    (name) => record.request[name] !== request[name],
  );
  if (differs.length > 0) {
    throw fail.IDEMPOTENCY_KEY_REUSED(
      `Idempotency-Key '${record.key}' was used at ${record.at} for another idea: ${differs.join(', ')} ${differs.length === 1 ? 'differs' : 'differ'}; send a new key for a new idea`,
      { field: IDEMPOTENCY_HEADER, key: record.key, differs, ideaId: record.ideaId },
    );
  }
  const idea = ideaOf(record.ideaId);
  if (!idea) {
    throw fail.IDEA_DELETED(
      `the idea created with Idempotency-Key '${record.key}' (${record.ideaId}) has been deleted since`,
      { field: IDEMPOTENCY_HEADER, key: record.key, ideaId: record.ideaId },
    );
  }
  return idea;
}
