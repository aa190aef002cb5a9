import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthGuard, FailureCounter } from '../../kernel/auth/failures.js';
import { allows, type KeyIdentity, type KeyStore, type Role } from '../../kernel/auth/keys.js';
import { fail } from '../../kernel/errors.js';
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

/**
 * Every route registered in `api` (a plugin's instance) from now on that declares no access is
 * admin-only, so a forgotten declaration fails closed. Outside the plugin the default is public.
 */
export function adminByDefault(api: App): void {
  api.addHook('onRoute', (route) => {
    route.config = { access: 'admin', ...route.config };
  });
}

/**
 * Every matched route needs a key with its role unless marked public: the REST API's routes are
 * admin-only unless they say otherwise (`adminByDefault`); the base's routes and the dashboard's
 * files declare nothing and are public.
 */
function accessOf(req: FastifyRequest): Access | null {
  if (req.routeOptions.url === undefined) return null; // no route: the 404 handler answers
  return req.routeOptions.config.access ?? 'public';
}

/**
 * Authenticates requests: an `X-API-Key` header, else a session cookie. Failed key checks (on any
 * route or at login) count per client IP; past the limit that IP gets 429 for the rest of the minute.
 */
export class Authenticator {
  private readonly guard: AuthGuard;

  constructor(
    private readonly keys: KeyStore,
    readonly sessions: Sessions,
    failuresPerMinute: number,
    now: () => number,
    concurrentPerIp = 4,
  ) {
    this.guard = new AuthGuard({ failuresPerMinute, concurrentPerIp, now });
  }

  async authenticate(req: FastifyRequest, reply: FastifyReply): Promise<Credential> {
    this.refuseBlocked(req, reply);
    const header = req.headers['x-api-key'];
    // A key wins over a cookie: a header is never sent by a browser on its own, so it needs no CSRF check.
    if (typeof header === 'string' && header)
      return { via: 'key', identity: await this.checkKey(req, reply, header) };
    const token = this.sessions.tokenOf(req);
    if (token) return { via: 'session', ...(await this.sessions.resume(req, reply, token)) };
    throw fail.UNAUTHORIZED('an X-API-Key header (or a session cookie) is required');
  }

  /** A login with a key (POST /api/v1/session): limited like every other key check. */
  async login(req: FastifyRequest, reply: FastifyReply, key: string): Promise<KeyIdentity> {
    this.refuseBlocked(req, reply);
    return this.checkKey(req, reply, key);
  }

  private async checkKey(req: FastifyRequest, reply: FastifyReply, presented: string): Promise<KeyIdentity> {
    const outcome = await this.guard.attempt(req.ip, presented, () => this.keys.verify(presented));
    if (outcome.ok) return outcome.value;
    if (outcome.reason !== 'failed') reply.header('retry-after', outcome.retryAfter);
    if (outcome.reason === 'failed') {
      throw fail.UNAUTHORIZED('the API key is not valid or was revoked');
    }
    const refuse = outcome.reason === 'blocked' ? fail.TOO_MANY_AUTH_FAILURES : fail.TOO_MANY_AUTH_ATTEMPTS;
    throw refuse({ retryAfterSeconds: outcome.retryAfter });
  }

  private refuseBlocked(req: FastifyRequest, reply: FastifyReply): void {
    const retryAfter = this.guard.blockedFor(req.ip);
    if (retryAfter > 0) {
      reply.header('retry-after', retryAfter);
      throw fail.TOO_MANY_AUTH_FAILURES({ retryAfterSeconds: retryAfter });
    }
  }
}

/**
 * The one authentication hook: every non-public route needs a credential with its role. A request
 * no credential is checked for (a public route, an unknown path) counts against its IP's budget of
 * `unauthenticatedPerMinute`, so a flood of anonymous requests is refused cheaply with 429.
 */
export function registerAuth(
  app: App,
  auth: Authenticator,
  unauthenticatedPerMinute: number,
  now: () => number,
): void {
  const anonymous = new FailureCounter(unauthenticatedPerMinute, now);
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const access = accessOf(req);
    if (access === null || access === 'public') {
      const retryAfter = anonymous.blockedFor(req.ip);
      if (retryAfter > 0) {
        reply.header('retry-after', retryAfter);
        throw fail.RATE_LIMITED(
          `more than ${unauthenticatedPerMinute} unauthenticated requests a minute; retry in ${retryAfter} s`,
          { limit: unauthenticatedPerMinute, retryAfterSeconds: retryAfter },
        );
      }
      anonymous.add(req.ip);
      return;
    }
    const credential = await auth.authenticate(req, reply);
    credentials.set(req, credential);
    const { identity } = credential;
    if (!allows(identity.role, access)) {
      throw fail.FORBIDDEN(`this route needs the '${access}' role`, {
        required: access,
        role: identity.role,
        key: identity.id,
      });
    }
  });
}
