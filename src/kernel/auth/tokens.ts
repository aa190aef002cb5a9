import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** What a token may be used for: a browser session cookie, or one WebSocket connection to the stream. */
export type TokenPurpose = 'session' | 'stream';

export interface TokenClaims {
  /** The API key the token was issued for; the token stops working when that key is revoked. */
  kid: string;
  purpose: TokenPurpose;
  /** Expiry, ms since the epoch. */
  exp: number;
  /** Random per token, so two tokens issued in the same millisecond differ. */
  nonce: string;
  /**
   * What the token grants ends then at the latest (ms since the epoch): a stream token issued
   * through a browser session carries the session's expiry, so the stream closes with the session.
   */
  until?: number;
}

export const TOKEN_SECRET_FILE = 'token-secret';
const SECRET_BYTES = 32;

/**
 * Short-lived tokens signed with HMAC-SHA256: `base64url(claims).base64url(mac)`. Stateless, so the
 * gateway issues them and the stream checks them with nothing shared but the secret file
 * (`{home}/gateway/token-secret`, 0600, created by whichever process needs it first).
 */
export class TokenSigner {
  constructor(
    private readonly secret: Buffer,
    private readonly now: () => number = Date.now,
  ) {}

  static at(home: string, now?: () => number): TokenSigner {
    return new TokenSigner(loadOrCreateSecret(path.join(home, 'gateway', TOKEN_SECRET_FILE)), now);
  }

  issue(
    kid: string,
    purpose: TokenPurpose,
    ttlMs: number,
    until?: number,
  ): { token: string; claims: TokenClaims } {
    const claims: TokenClaims = {
      kid,
      purpose,
      exp: this.now() + ttlMs,
      nonce: randomBytes(9).toString('base64url'),
      ...(until !== undefined && { until }),
    };
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { token: `${body}.${this.mac(body).toString('base64url')}`, claims };
  }

  /** The claims of a well-signed, unexpired token for this purpose, or null. */
  verify(token: string, purpose: TokenPurpose): TokenClaims | null {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 1_024) return null;
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = this.mac(body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return null;
    }
    if (claims.purpose !== purpose || typeof claims.exp !== 'number' || claims.exp <= this.now()) return null;
    if (claims.until !== undefined && typeof claims.until !== 'number') return null;
    return typeof claims.kid === 'string' ? claims : null;
  }

  /** A value derived from a token that proves knowledge of it (the CSRF token of a session). */
  derive(token: string, label: string): string {
    return this.mac(`${label}:${token}`).toString('base64url');
  }

  private mac(data: string): Buffer {
    return createHmac('sha256', this.secret).update(data).digest();
  }
}

/**
 * The secret, created whole or not at all: written to a temporary file, then linked into place (a
 * link fails if the name exists, so two processes starting at once end up with the same secret,
 * and neither ever reads a half-written one). A short secret is refused: it would make tokens
 * forgeable.
 */
function loadOrCreateSecret(file: string): Buffer {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, randomBytes(SECRET_BYTES), { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another process won
    } finally {
      unlinkSync(tmp);
    }
  }
  const secret = readFileSync(file);
  if (secret.length < SECRET_BYTES) {
    throw new Error(
      `${file} holds ${secret.length} bytes, fewer than ${SECRET_BYTES}: delete it to make a new one`,
    );
  }
  return secret;
}
