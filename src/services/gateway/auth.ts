import type { FastifyReply, FastifyRequest } from 'fastify';
import { allows, type KeyIdentity, type KeyStore, type Role } from '../../kernel/auth/keys.js';
import { AppError } from '../../kernel/errors.js';
import type { App } from '../../kernel/service.js';
import type { Session, Sessions } from './session.js';

/** Who may call a route: a role (and every role above it), or anyone. */
export type Access = Role | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

/** How a request was authenticated: an API key (scripts), or a browser session cookie. */
export type Credential = { via: 'key'; identity: KeyIdentity } | ({ via: 'session' } & Session);

const credentials = new WeakMap<FastifyRequest, Credential>();
export const credentialOf = (req: FastifyRequest): Credential | undefined => credentials.get(req);
/** The key a request was authenticated with, if any. */
export const identityOf = (req: FastifyRequest): KeyIdentity | undefined => credentials.get(req)?.identity;

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

/**
 * Authenticates requests: an `X-API-Key` header, else a session cookie. Failed key checks (on any
 * route or at login) count per client IP; past the limit that IP gets 429 for the rest of the minute.
 */
export class Authenticator {
  private readonly failures: FailureCounter;

  constructor(
    private readonly keys: KeyStore,
    readonly sessions: Sessions,
    failuresPerMinute: number,
    now: () => number,
  ) {
    this.failures = new FailureCounter(failuresPerMinute, now);
  }

  async authenticate(req: FastifyRequest, reply: FastifyReply): Promise<Credential> {
    this.refuseBlocked(req, reply);
    const header = req.headers['x-api-key'];
    // A key wins over a cookie: a header is never sent by a browser on its own, so it needs no CSRF check.
    if (typeof header === 'string' && header)
      return { via: 'key', identity: await this.checkKey(req, header) };
    const token = this.sessions.tokenOf(req);
    if (token) return { via: 'session', ...(await this.sessions.resume(req, reply, token)) };
    throw new AppError(401, 'UNAUTHORIZED', 'an X-API-Key header (or a session cookie) is required');
  }

  /** A login with a key (POST /api/v1/session): limited like every other key check. */
  async login(req: FastifyRequest, reply: FastifyReply, key: string): Promise<KeyIdentity> {
    this.refuseBlocked(req, reply);
    return this.checkKey(req, key);
  }

  private async checkKey(req: FastifyRequest, presented: string): Promise<KeyIdentity> {
    const identity = await this.keys.verify(presented);
    if (!identity) {
      this.failures.add(req.ip);
      throw new AppError(401, 'UNAUTHORIZED', 'the API key is not valid or was revoked');
    }
    return identity;
  }

  private refuseBlocked(req: FastifyRequest, reply: FastifyReply): void {
    const retryAfter = this.failures.blockedFor(req.ip);
    if (retryAfter > 0) {
      reply.header('retry-after', retryAfter);
      throw new AppError(429, 'TOO_MANY_AUTH_FAILURES', 'too many failed authentications; try again later', {
        retryAfterSeconds: retryAfter,
      });
    }
  }
}

/** The one authentication hook: every non-public route needs a credential with its role. */
export function registerAuth(app: App, auth: Authenticator): void {
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const access = accessOf(req);
    if (access === null || access === 'public') return;
    const credential = await auth.authenticate(req, reply);
    credentials.set(req, credential);
    const { identity } = credential;
    if (!allows(identity.role, access)) {
      throw new AppError(403, 'FORBIDDEN', `this route needs the '${access}' role`, {
        required: access,
        role: identity.role,
        key: identity.id,
      });
    }
  });
}
