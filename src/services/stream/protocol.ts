/**
 * The stream's wire protocol: JSON text frames.
 *   client → server: one op per frame, {"op":"subscribe"|"unsubscribe","channels":[…]} or {"op":"ping"},
 *                    each with an optional "id" (string or number) echoed in the reply.
 *   server → client: every frame is a JSON array of messages, data {"channel","seq","data"} and
 *                    replies {"type":"hello"|"subscribed"|"unsubscribed"|"pong"|"error",…}.
 * The handbook page docs/reference/stream.md documents it for client authors.
 */
import { CODE, type ErrorCode } from '../../kernel/errors.js';

export type MessageId = string | number;

export type ClientOp =
  | { op: 'subscribe' | 'unsubscribe'; channels: string[]; id?: MessageId }
  | { op: 'ping'; id?: MessageId };

export interface ErrorReply {
  type: 'error';
  code: ErrorCode;
  message: string;
  id?: MessageId;
  details?: Record<string, unknown>;
}

export type ParsedOp = { ok: true; op: ClientOp } | { ok: false; error: ErrorReply };

/**
 * Close codes: 1001 at shutdown (the feeds' constant), 1009 for a frame over maxFrameBytes (sent by
 * `ws`), and ours.
 */
export { CLOSE_GOING_AWAY } from '../../kernel/feed/index.js';
/** A client whose undroppable queue passed maxQueuedBytes. */
export const CLOSE_SLOW_CONSUMER = 4001;
/** The key behind the connection was revoked, or the browser session its token came from ended. */
export const CLOSE_UNAUTHORIZED = 4401;

const OPS = new Set(['subscribe', 'unsubscribe', 'ping']);

const invalid = (message: string, id?: MessageId): ParsedOp => ({
  ok: false,
  error: { type: 'error', code: CODE.INVALID_MESSAGE, message, ...(id !== undefined && { id }) },
});

/** Parses one client frame; errors name what was wrong. `maxChannels` bounds one op's list. */
export function parseClientOp(text: string, maxChannels: number): ParsedOp {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return {
      ok: false,
      error: { type: 'error', code: CODE.INVALID_JSON, message: 'the frame is not valid JSON' },
    };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return invalid('a message must be a JSON object with an "op"');
  }
  const m = msg as Record<string, unknown>;
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : undefined;
  if (m.id !== undefined && (id === undefined || String(id).length > 64)) {
    return invalid('"id" must be a string or number of at most 64 characters');
  }
  const withId = id !== undefined ? { id } : {};
  if (typeof m.op !== 'string') return invalid('"op" is required', id);
  if (!OPS.has(m.op)) {
    return {
      ok: false,
      error: {
        type: 'error',
        code: CODE.UNKNOWN_OP,
        message: `unknown op '${m.op.slice(0, 40)}'; ops are subscribe, unsubscribe, ping`,
        ...withId,
      },
    };
  }
  if (m.op === 'ping') return { ok: true, op: { op: 'ping', ...withId } };
  const channels = m.channels;
  if (!Array.isArray(channels) || channels.length === 0 || !channels.every((c) => typeof c === 'string')) {
    return invalid('"channels" must be a non-empty array of channel names', id);
  }
  if (channels.length > maxChannels) {
    return {
      ok: false,
      error: {
        type: 'error',
        code: CODE.TOO_MANY_SUBSCRIPTIONS,
        message: `at most ${maxChannels} channels per client`,
        ...withId,
        details: { limit: maxChannels, requested: channels.length },
      },
    };
  }
  return {
    ok: true,
    op: { op: m.op as 'subscribe' | 'unsubscribe', channels: [...new Set(channels)], ...withId },
  };
}

/** The JSON of one data message, made once per publish and shared by every subscriber's frame. */
export function encodeData(channel: string, seq: number, data: unknown): string {
  return `{"channel":${JSON.stringify(channel)},"seq":${seq},"data":${JSON.stringify(data) ?? 'null'}}`;
}
