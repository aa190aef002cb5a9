import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyIdentity } from '../../kernel/auth/keys.js';
import type { ServiceName } from '../../kernel/config.js';
import { AppError, badRequest } from '../../kernel/errors.js';
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
  logger: Logger;
  metrics: GatewayMetrics;
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
  return new AppError(
    reason === 'timeout' ? 504 : 503,
    'UPSTREAM_UNAVAILABLE',
    `${service} is not answering`,
    {
      service,
      reason,
      detail,
    },
  );
}

/** Who the audit trail names: the key's name when it is plain text, else its id. */
export function actorFor(identity: KeyIdentity): string {
  const name = identity.name.trim();
  return `key:${PLAIN_NAME.test(name) ? name : identity.id}`;
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
  // `..` would let a wildcard route reach any upstream path once the URL is normalized.
  if (DOT_SEGMENT.test(call.path)) {
    throw badRequest('INVALID_PATH', 'the path may not contain . or .. segments');
  }
  const headers: Record<string, string> = {
    ...call.headers,
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
  const started = performance.now();
  try {
    const res = await exchange(to, call.method, call.path, headers, body, opts.timeoutMs);
    opts.metrics.upstreamDuration.observe(
      { service: to.service, status: String(res.status) },
      (performance.now() - started) / 1000,
    );
    return res;
  } catch (err) {
    const reason = err instanceof UpstreamTimeout ? 'timeout' : 'unreachable';
    const detail = reason === 'timeout' ? `no answer within ${opts.timeoutMs} ms` : causeOf(err);
    opts.metrics.upstreamFailures.inc({ service: to.service, reason });
    opts.logger.warn(
      { event: 'gateway.upstream_unavailable', service: to.service, reason, detail, reqId: req.id },
      'upstream not answering',
    );
    throw upstreamUnavailable(to.service, reason, detail);
  }
}

class UpstreamTimeout extends Error {}

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
): Promise<UpstreamAnswer> {
  const deadline = performance.now() + timeoutMs;
  const attempt = (retry: boolean) =>
    new Promise<UpstreamAnswer>((resolve, reject) => {
      const req = request({ host: to.host, port: to.port, method, path, headers, agent: agentOf(to) });
      let timedOut = false;
      const timer = setTimeout(
        () => {
          timedOut = true;
          reject(new UpstreamTimeout());
          req.destroy();
        },
        Math.max(0, deadline - performance.now()),
      );
      const fail = (err: Error & { code?: string }) => {
        clearTimeout(timer);
        if (timedOut) return;
        const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
        if (retry && stale && method === 'GET') resolve(attempt(false));
        else reject(err);
      };
      req.on('error', fail);
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 502, headers: res.headers, text });
        });
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
  return relay(reply, await callUpstream(req, to, call, opts));
}

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
