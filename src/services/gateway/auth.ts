import type { FastifyReply, FastifyRequest } from 'fastify';
import { allows, type KeyIdentity, type KeyStore, type Role } from '../../kernel/auth/keys.js';
import { AppError } from '../../kernel/errors.js';
import type { App } from '../../kernel/service.js';

/** Who may call a route: a role (and every role above it), or anyone. */
export type Access = Role | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

const identities = new WeakMap<FastifyRequest, KeyIdentity>();
/** The key a request was authenticated with, if any. */
export const identityOf = (req: FastifyRequest): KeyIdentity | undefined => identities.get(req);

const WINDOW_MS = 60_000;
const MAX_TRACKED_CLIENTS = 10_000;

/** Failed authentications per client IP in fixed one-minute windows. */
export class FailureCounter {
  private byIp = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly now: () => number,
  ) {}

  /** Seconds until the client may try again, or 0 when it is not blocked. */
  blockedFor(ip: string): number {
    const entry = this.current(ip);
    return entry && entry.count >= this.max ? Math.ceil((entry.start + WINDOW_MS - this.now()) / 1000) : 0;
  }

  add(ip: string): void {
    const entry = this.current(ip);
    if (entry) entry.count += 1;
    else {
      if (this.byIp.size >= MAX_TRACKED_CLIENTS) this.prune();
      this.byIp.set(ip, { start: this.now(), count: 1 });
    }
  }

  private current(ip: string) {
    const entry = this.byIp.get(ip);
    return entry && this.now() - entry.start < WINDOW_MS ? entry : undefined;
  }

  private prune(): void {
    for (const [ip, e] of this.byIp) if (this.now() - e.start >= WINDOW_MS) this.byIp.delete(ip);
    // Still full of live windows: forget the oldest rather than grow without bound.
    if (this.byIp.size >= MAX_TRACKED_CLIENTS) this.byIp.delete(this.byIp.keys().next().value ?? '');
  }
}

/**
 * Every matched route needs a key with its role unless marked public; an `/api/` route that
 * declares no access is admin-only, so a forgotten declaration fails closed.
 */
function accessOf(req: FastifyRequest): Access | null {
  const url = req.routeOptions.url;
  if (url === undefined) return null; // no route: the 404 handler answers
  return req.routeOptions.config.access ?? (url.startsWith('/api/') ? 'admin' : 'public');
}

export function registerAuth(app: App, keys: KeyStore, failuresPerMinute: number, now: () => number): void {
  const failures = new FailureCounter(failuresPerMinute, now);
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const access = accessOf(req);
    if (access === null || access === 'public') return;
    const retryAfter = failures.blockedFor(req.ip);
    if (retryAfter > 0) {
      reply.header('retry-after', retryAfter);
      throw new AppError(429, 'TOO_MANY_AUTH_FAILURES', 'too many failed authentications; try again later', {
        retryAfterSeconds: retryAfter,
      });
    }
    const header = req.headers['x-api-key'];
    const presented = typeof header === 'string' && header ? header : undefined;
    if (!presented) throw new AppError(401, 'UNAUTHORIZED', 'an X-API-Key header is required');
    const identity = await keys.verify(presented);
    if (!identity) {
      failures.add(req.ip);
      throw new AppError(401, 'UNAUTHORIZED', 'the API key is not valid or was revoked');
    }
    identities.set(req, identity);
    if (!allows(identity.role, access)) {
      throw new AppError(403, 'FORBIDDEN', `this route needs the '${access}' role`, {
        required: access,
        role: identity.role,
        key: identity.id,
      });
    }
  });
}
