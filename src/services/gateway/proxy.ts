import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServiceName } from '../../kernel/config.js';
import { AppError, badRequest } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/logger.js';
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

/** Upstream headers a client may need; everything else (hop-by-hop, server internals) stays behind. */
const PASSED_HEADERS = ['content-type', 'retry-after', 'x-total-count'];
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|\?|$)/i;

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

/**
 * Forwards a request to `path` (with its query string) on an upstream and passes its answer
 * through, status and error envelope included. `payload` is the body to send, if any. Every call is bounded by the timeout, body included.
 */
export async function forward(
  req: FastifyRequest,
  reply: FastifyReply,
  to: Upstream,
  path: string,
  payload: unknown,
  opts: ProxyOptions,
): Promise<FastifyReply> {
  // `..` would let a wildcard route reach any upstream path once the URL is normalized.
  if (DOT_SEGMENT.test(path)) throw badRequest('INVALID_PATH', 'the path may not contain . or .. segments');
  const headers: Record<string, string> = { accept: 'application/json', 'x-request-id': req.id };
  let body: string | undefined;
  if (payload !== undefined) {
    body = JSON.stringify(payload);
    headers['content-type'] = 'application/json';
  }
  const started = performance.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(`http://${to.host}:${to.port}${path}`, {
      method: req.method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? 'timeout' : 'unreachable';
    const detail = reason === 'timeout' ? `no answer within ${opts.timeoutMs} ms` : causeOf(err);
    opts.metrics.upstreamFailures.inc({ service: to.service, reason });
    opts.logger.warn(
      { event: 'gateway.upstream_unavailable', service: to.service, reason, detail, reqId: req.id },
      'upstream not answering',
    );
    throw upstreamUnavailable(to.service, reason, detail);
  }
  opts.metrics.upstreamDuration.observe(
    { service: to.service, status: String(res.status) },
    (performance.now() - started) / 1000,
  );
  reply.status(res.status);
  for (const name of PASSED_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) reply.header(name, value);
  }
  return reply.send(text);
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
