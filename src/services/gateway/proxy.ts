import { Agent, type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyIdentity } from '../../kernel/auth/keys.js';
import type { ServiceName } from '../../kernel/config.js';
import { AppError, CODE, ERRORS, fail } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/logger.js';
import { identityOf } from './auth.js';
import type { GatewayMetrics } from './metrics.js';

export interface Upstream {
  service: ServiceName;
  host: string;
  port: number;
}

export interface ProxyOptions {
  timeoutMs: number;
  /** Largest answer read whole (callUpstream); `forward` streams and has no such limit. Default 8 MiB. */
  maxBufferedBytes?: number;
  logger: Logger;
  metrics: GatewayMetrics;
  /** The internal credential's header, sent on every call (empty when internal auth is off). */
  internalHeaders?: Record<string, string>;
}

/** One call to an upstream: method, path with its query string, and the JSON body to send, if any. */
export interface UpstreamCall {
  method: string;
  path: string;
  payload?: unknown;
  /** Client headers the route passes on (`RouteSpec.headers`); never those built here. */
  headers?: Record<string, string>;
}

export interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Upstream headers a client may need; everything else (hop-by-hop, server internals) stays behind. */
const PASSED_HEADERS = ['content-type', 'retry-after', 'x-total-count'];
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|\?|$)/i;
/** A name that is safe as a header value and fits the order manager's 64-character actor. */
const PLAIN_NAME = /^[\x21-\x7e][\x20-\x7e]{0,58}$/;

/** The one way an upstream that gives no answer is reported: 503 when unreachable, 504 on timeout. */
export function upstreamUnavailable(service: string, reason: 'timeout' | 'unreachable', detail: string) {
  // The catalogue's 503, or 504 when the upstream was reached but did not answer in time.
  const status = reason === 'timeout' ? 504 : ERRORS.UPSTREAM_UNAVAILABLE.status;
  return new AppError(status, CODE.UPSTREAM_UNAVAILABLE, `${service} is not answering`, {
    service,
    reason,
    detail,
  });
}

/**
 * Who the audit trail names: `key:<name>#<id>` (the name cut to fit the order manager's 64
 * characters), or `key:<id>` when the name is not plain text.
 */
export function actorFor(identity: KeyIdentity): string {
  const name = identity.name.trim();
  if (!PLAIN_NAME.test(name)) return `key:${identity.id}`;
  return `key:${name.slice(0, 64 - 'key:#'.length - identity.id.length).trimEnd()}#${identity.id}`;
}

/**
 * The one HTTP client to the upstreams. Only the headers built here are sent, and those a route
 * declares (`call.headers`, such as `Idempotency-Key`), which can never replace a built one: a
 * client can never choose its own `x-actor`, it always comes from the key the request was
 * authenticated with. Every call is bounded by the timeout, body included.
 */
export async function callUpstream(
  req: FastifyRequest,
  to: Upstream,
  call: UpstreamCall,
  opts: ProxyOptions,
): Promise<UpstreamAnswer> {
  const started = performance.now();
  const opened = await openUpstream(req, to, call, opts);
  const maxBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  try {
    const text = await readAll(opened, maxBytes);
    opts.metrics.upstreamDuration.observe(
      { service: to.service, status: String(opened.res.statusCode) },
      (performance.now() - started) / 1000,
    );
    return { status: opened.res.statusCode ?? 502, headers: opened.res.headers, text };
  } catch (err) {
    if (err instanceof AnswerTooLarge) {
      opts.metrics.upstreamFailures.inc({ service: to.service, reason: 'too_large' });
      throw fail.UPSTREAM_ANSWER_TOO_LARGE(
        `${to.service}'s answer is larger than the gateway reads whole (${maxBytes} bytes)`,
        { service: to.service, limitBytes: maxBytes, setting: 'services.gateway.maxBufferedAnswerBytes' },
      );
    }
    throw unavailable(req, to, err, opts);
  }
}

/** Sends a call and waits for the upstream's status and headers; the body is still to come. */
async function openUpstream(req: FastifyRequest, to: Upstream, call: UpstreamCall, opts: ProxyOptions) {
  // `..` would let a wildcard route reach any upstream path once the URL is normalized.
  if (DOT_SEGMENT.test(call.path)) {
    throw fail.INVALID_PATH();
  }
  const headers: Record<string, string> = {
    ...call.headers,
    ...opts.internalHeaders,
    accept: 'application/json',
    'x-request-id': req.id,
  };
  const identity = identityOf(req);
  if (identity) headers['x-actor'] = actorFor(identity);
  let body: string | undefined;
  if (call.payload !== undefined) {
    body = JSON.stringify(call.payload);
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  try {
    return await exchange(to, call.method, call.path, headers, body, opts.timeoutMs);
  } catch (err) {
    throw unavailable(req, to, err, opts);
  }
}

/** The one way an upstream that gave no (whole) answer is counted, logged and reported. */
function unavailable(req: FastifyRequest, to: Upstream, err: unknown, opts: ProxyOptions): AppError {
  const reason = err instanceof UpstreamTimeout ? 'timeout' : 'unreachable';
  const detail = reason === 'timeout' ? `no answer within ${opts.timeoutMs} ms` : causeOf(err);
  opts.metrics.upstreamFailures.inc({ service: to.service, reason });
  opts.logger.warn(
    { event: 'gateway.upstream_unavailable', service: to.service, reason, detail, reqId: req.id },
    'upstream not answering',
  );
  return upstreamUnavailable(to.service, reason, detail);
}

const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1_048_576;

class UpstreamTimeout extends Error {}
class AnswerTooLarge extends Error {}

/** An answer whose status and headers have arrived; its body is read (or streamed) next, under the same deadline. */
interface Opened {
  res: IncomingMessage;
  timedOut(): boolean;
}

/** Reads a whole answer, at most `maxBytes` of it: a bigger one is cut off, not held. */
function readAll({ res, timedOut }: Opened, maxBytes: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new AnswerTooLarge());
        res.destroy();
        return;
      }
      chunks.push(chunk);
    });
    res.on('error', (err) => reject(timedOut() ? new UpstreamTimeout() : err));
    res.on('close', () => {
      if (!res.complete) reject(timedOut() ? new UpstreamTimeout() : new Error('upstream answer cut short'));
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/**
 * How long a pooled connection may sit idle before the gateway closes it. An upstream closes an
 * idle connection after its keep-alive timeout (Fastify 5's default, 72 s; `buildService` sets no
 * other); if it does so just as the gateway reuses the connection, the request fails with
 * ECONNRESET, and a POST is not retried, so the client would get a spurious 503. Closing our end
 * first, at half the upstream's timeout, takes the gateway out of that race. An upstream that
 * announces a shorter `Keep-Alive: timeout=N` lowers it further (Node uses the hint, less a
 * second, only when the agent has a timeout of its own).
 */
export const UPSTREAM_IDLE_SOCKET_MS = 36_000;

/**
 * Keep-alive connections, one pool per upstream, on node:http: `fetch()` (an AbortSignal, WHATWG
 * Headers and streams per call) made the hop cost more than the upstream's own work.
 */
const agents = new Map<string, Agent>();
function agentOf(to: Upstream): Agent {
  const key = `${to.host}:${to.port}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ keepAlive: true, timeout: UPSTREAM_IDLE_SOCKET_MS });
    agents.set(key, agent);
  }
  return agent;
}

/**
 * One HTTP exchange on a pooled connection, bounded by `timeoutMs` from the request to the last
 * byte of the body. A GET that finds its pooled connection closed by the upstream (it restarted,
 * or dropped the idle connection as we reused it) is retried once on a new one; other methods are
 * not, as the upstream may have acted on them.
 */
function exchange(
  to: Upstream,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<Opened> {
  const deadline = performance.now() + timeoutMs;
  const attempt = (retry: boolean) =>
    new Promise<Opened>((resolve, reject) => {
      const req = request({ host: to.host, port: to.port, method, path, headers, agent: agentOf(to) });
      let timedOut = false;
      let answered = false;
      const timer = setTimeout(
        () => {
          timedOut = true;
          // Before the answer: a 504. During its body: the body is cut off (the reader sees it).
          if (!answered) reject(new UpstreamTimeout());
          req.destroy();
        },
        Math.max(0, deadline - performance.now()),
      );
      const fail = (err: Error & { code?: string }) => {
        // Once answered, an error reaches the reader through the response.
        if (answered) return;
        clearTimeout(timer);
        if (timedOut) return;
        const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
        if (retry && stale && method === 'GET') resolve(attempt(false));
        else reject(err);
      };
      req.on('error', fail);
      req.on('response', (res) => {
        answered = true;
        res.on('close', () => clearTimeout(timer));
        resolve({ res, timedOut: () => timedOut });
      });
      req.end(body);
    });
  return attempt(true);
}

/**
 * Forwards a request to `path` (with its query string) on an upstream and passes its answer
 * through, status and error envelope included. `payload` is the body to send, if any; `pass`
 * names the request headers (lower case) that go along when the client sent them.
 */
export async function forward(
  req: FastifyRequest,
  reply: FastifyReply,
  to: Upstream,
  path: string,
  payload: unknown,
  opts: ProxyOptions,
  pass: readonly string[] = [],
): Promise<FastifyReply> {
  const call: UpstreamCall = { method: req.method, path, payload };
  if (pass.length > 0) {
    const headers: Record<string, string> = {};
    for (const name of pass) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    call.headers = headers;
  }
  // A small answer is read whole, so a stall still gets the 504 envelope. A larger one is streamed,
  // never held whole: parallel big answers cost socket buffers, not their size in heap, and a slow
  // client slows its upstream read (backpressure) instead of piling up here.
  const started = performance.now();
  const opened = await openUpstream(req, to, call, opts);
  const { res } = opened;
  let head: Buffer | null;
  try {
    head = await readHead(opened, STREAM_ABOVE_BYTES);
  } catch (err) {
    throw unavailable(req, to, err, opts);
  }
  reply.status(res.statusCode ?? 502);
  for (const name of head ? PASSED_HEADERS : STREAMED_HEADERS) {
    const value = res.headers[name];
    if (value !== undefined) reply.header(name, value);
  }
  const observe = () =>
    opts.metrics.upstreamDuration.observe(
      { service: to.service, status: String(res.statusCode) },
      (performance.now() - started) / 1000,
    );
  if (head) {
    observe();
    return reply.send(head);
  }
  res.once('close', () => {
    if (res.complete) return observe();
    opts.metrics.upstreamFailures.inc({ service: to.service, reason: 'cut_short' });
    opts.logger.warn(
      { event: 'gateway.upstream_cut_short', service: to.service, reqId: req.id },
      'upstream answer cut short (timeout, upstream or client gone)',
    );
  });
  return reply.send(res);
}

/** Answers up to this size are read whole before the client gets anything; larger ones stream. */
export const STREAM_ABOVE_BYTES = 64 * 1024;

/**
 * The whole answer when it ends within `maxBytes`; null when it is larger, with what was read put
 * back at the front of the response, paused, for the caller to stream.
 */
function readHead({ res, timedOut }: Opened, maxBytes: number): Promise<Buffer | null> {
  return new Promise<Buffer | null>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= maxBytes) return;
      settled = true;
      res.off('data', onData);
      res.pause();
      res.unshift(Buffer.concat(chunks));
      resolve(null);
    };
    res.on('data', onData);
    res.on('error', (err) => {
      if (!settled) reject(timedOut() ? new UpstreamTimeout() : err);
    });
    res.on('close', () => {
      if (!settled && !res.complete)
        reject(timedOut() ? new UpstreamTimeout() : new Error('upstream answer cut short'));
    });
    res.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks));
    });
  });
}

/** A streamed answer also keeps its length, so a client can tell a body cut short. */
const STREAMED_HEADERS = [...PASSED_HEADERS, 'content-length'];

/** An upstream answer as it came: status, body and the headers a client may need. */
export function relay(reply: FastifyReply, res: UpstreamAnswer): FastifyReply {
  reply.status(res.status);
  for (const name of PASSED_HEADERS) {
    const value = res.headers[name];
    if (value !== undefined) reply.header(name, value);
  }
  return reply.send(res.text);
}

function causeOf(err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).message;
}
