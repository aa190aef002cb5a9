/**
 * The feed wire protocol: text frames of JSON.
 *   server → client: {"t":"hello","lastSeq":N} once on connect, then {"t":"batch","records":[{seq,data},…]}
 *   client → server: nothing (the server keeps its own "sent up to" position per connection)
 * A client connects with `?from=<seq>` meaning "I have everything up to and including seq".
 */

/** One record of a feed. Seqs are positive integers from the producer, strictly increasing, no gaps. */
export interface FeedRecord<T> {
  seq: number;
  data: T;
}

/** The producer's durable source for replay (data-capture's journal, order-manager's SQLite). */
export interface FeedHistory<T> {
  /** Records with seq > afterSeq in order, at most `max`. */
  read(afterSeq: number, max: number): FeedRecord<T>[] | Promise<FeedRecord<T>[]>;
  /** The highest seq the history holds (0 when empty). */
  lastSeq(): number;
}

export interface HelloMessage {
  t: 'hello';
  lastSeq: number;
}
export interface BatchMessage<T> {
  t: 'batch';
  records: FeedRecord<T>[];
}
export type ServerMessage<T> = HelloMessage | BatchMessage<T>;

/** Close codes the server uses (1001 going away is the standard one for shutdown). */
export const CLOSE_GOING_AWAY = 1001;
/** The server could not serve the connection's position (history failed or has a hole). */
export const CLOSE_INTERNAL_ERROR = 1011;

/**
 * The JSON of one record, made once at publish and reused in every frame that carries it;
 * `dataJson` is `record.data` already as JSON, when the producer has it.
 */
export function encodeRecord<T>(record: FeedRecord<T>, dataJson?: string): string {
  return `{"seq":${record.seq},"data":${dataJson ?? JSON.stringify(record.data) ?? 'null'}}`;
}

export const BATCH_PREFIX = '{"t":"batch","records":[';
export const BATCH_SUFFIX = ']}';

/** A batch frame from comma-joined encoded records (string concatenation, no second stringify). */
export function encodeBatch(joined: string): string {
  return `${BATCH_PREFIX}${joined}${BATCH_SUFFIX}`;
}

export function encodeHello(lastSeq: number): string {
  return `{"t":"hello","lastSeq":${lastSeq}}`;
}

/** Parses a server frame; undefined for anything that is not a well-formed hello or batch. */
export function parseServerMessage<T>(text: string): ServerMessage<T> | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof msg !== 'object' || msg === null) return undefined;
  const m = msg as Record<string, unknown>;
  if (m.t === 'hello' && isSeq(m.lastSeq, true)) return { t: 'hello', lastSeq: m.lastSeq };
  if (m.t === 'batch' && Array.isArray(m.records)) {
    for (const r of m.records as unknown[]) {
      if (typeof r !== 'object' || r === null || !isSeq((r as { seq?: unknown }).seq, false))
        return undefined;
    }
    return { t: 'batch', records: m.records as FeedRecord<T>[] };
  }
  return undefined;
}

function isSeq(v: unknown, allowZero: boolean): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && (allowZero ? v >= 0 : v > 0);
}

export type FromParam = { ok: true; from: number | undefined } | { ok: false; message: string };

/** Validates `?from=`: absent = live only; else an integer 0 ≤ from ≤ lastSeq. */
export function parseFrom(params: URLSearchParams, lastSeq: number): FromParam {
  const all = params.getAll('from');
  if (all.length === 0) return { ok: true, from: undefined };
  const raw = all[0] ?? '';
  if (all.length > 1) return { ok: false, message: 'from must be given once' };
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    return { ok: false, message: `from must be a non-negative integer, got '${raw.slice(0, 40)}'` };
  }
  const from = Number(raw);
  if (from > lastSeq) return { ok: false, message: `from ${from} is past the feed's last seq ${lastSeq}` };
  return { ok: true, from };
}
