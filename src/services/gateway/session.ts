import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyIdentity, KeyStore } from '../../kernel/auth/keys.js';
import type { TokenClaims, TokenSigner } from '../../kernel/auth/tokens.js';
import { UsedTokens } from '../../kernel/auth/used-tokens.js';
import { fail } from '../../kernel/errors.js';

export const SESSION_COOKIE = 'ts_session';
export const CSRF_HEADER = 'x-csrf-token';
/** Methods that change nothing: they need no CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A browser session: its signed token (only ever in the cookie), claims and current identity. */
export interface Session {
  token: string;
  claims: TokenClaims;
  identity: KeyIdentity;
}

export interface SessionOptions {
  ttlMs: number;
  /** Adds `Secure` to the cookie (browsers reach the gateway over HTTPS). */
  secure: boolean;
}

/**
 * Browser sessions: a stateless token signed by the `TokenSigner` in an HttpOnly, SameSite=Strict
 * cookie. A session lives while its token is unexpired and its key unrevoked; requests that use it
 * must come from this site, and state changes must carry its CSRF token (an HMAC of the session
 * token, which a page of another site can neither read nor compute).
 */
export class Sessions {
  /** Sessions signed out before they expired. In memory: a restart forgets them. */
  private readonly ended: UsedTokens;

  constructor(
    private readonly signer: TokenSigner,
    private readonly keys: KeyStore,
    private readonly opts: SessionOptions,
    now: () => number,
  ) {
    this.ended = new UsedTokens(now);
  }

  /** Starts a session for a verified key and sets its cookie. */
  start(identity: KeyIdentity, reply: FastifyReply): Session {
    const { token, claims } = this.signer.issue(identity.id, 'session', this.opts.ttlMs);
    reply.header('set-cookie', this.cookie(token, Math.floor(this.opts.ttlMs / 1000)));
    return { token, claims, identity };
  }

  /** The session token in a request's cookie, if any. */
  tokenOf(req: FastifyRequest): string | undefined {
    return cookieValue(req.headers.cookie, SESSION_COOKIE);
  }

  /**
   * The session behind a cookie's token. 401 (clearing the cookie) when the token is forged,
   * expired, logged out or its key revoked; 403 when the request comes from another site, or
   * changes state without the session's CSRF token.
   */
  async resume(req: FastifyRequest, reply: FastifyReply, token: string): Promise<Session> {
    const claims = this.signer.verify(token, 'session');
    const identity = claims && !this.ended.has(claims.nonce) ? await this.keys.identityOf(claims.kid) : null;
    if (!claims || !identity) {
      this.clearCookie(reply);
      throw fail.UNAUTHORIZED('the session has expired or ended; sign in again');
    }
    refuseCrossSite(req);
    if (!SAFE_METHODS.has(req.method) && !this.csrfMatches(token, req.headers[CSRF_HEADER])) {
      throw fail.CSRF_TOKEN_INVALID(`a state change with a session cookie needs the ${CSRF_HEADER} header`);
    }
    return { token, claims, identity };
  }

  /** The CSRF token of a session: the page reads it from GET /api/v1/session. */
  csrfTokenOf(token: string): string {
    return this.signer.derive(token, 'csrf');
  }

  /** Logs a session out: its token is refused from now on, and the cookie is cleared. */
  end(reply: FastifyReply, session?: Session): void {
    if (session) this.ended.claim(session.claims.nonce, session.claims.exp);
    this.clearCookie(reply);
  }

  private clearCookie(reply: FastifyReply): void {
    reply.header('set-cookie', this.cookie('', 0));
  }

  private cookie(value: string, maxAgeS: number): string {
    const secure = this.opts.secure ? '; Secure' : '';
    return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure}`;
  }

  private csrfMatches(token: string, presented: string | string[] | undefined): boolean {
    if (typeof presented !== 'string') return false;
    const expected = Buffer.from(this.csrfTokenOf(token));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/**
 * Refuses a browser request sent by a page of another origin (Sec-Fetch-Site, or else Origin,
 * when the browser sends them). SameSite=Strict does not cover other ports of the same host
 * (Grafana on :3000 is "same-site"), so this check is not redundant with it.
 */
export function refuseCrossSite(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  const crossSite = site !== undefined && site !== 'same-origin' && site !== 'none';
  if (crossSite || (origin !== undefined && hostOf(origin) !== req.headers.host)) {
    throw fail.CROSS_SITE_REFUSED({
      ...(origin !== undefined && { origin }),
      ...(site !== undefined && { secFetchSite: site }),
    });
  }
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null; // `Origin: null` (sandboxed or opaque) is another origin too
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
