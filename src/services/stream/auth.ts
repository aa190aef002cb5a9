import type { IncomingMessage } from 'node:http';
import type { KeyIdentity, KeyStore } from '../../kernel/auth/keys.js';
import type { TokenSigner } from '../../kernel/auth/tokens.js';

const MAX_REMEMBERED_TOKENS = 100_000;

/**
 * The nonces of stream tokens already used, each kept until its token expires (after that the
 * signature check refuses the token anyway). Bounded: when full of unexpired nonces, new tokens
 * are refused rather than a used one forgotten.
 */
export class UsedTokens {
  /** nonce → exp; insertion order is close to expiry order, so pruning stops at the first live one. */
  private readonly byNonce = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly max = MAX_REMEMBERED_TOKENS,
  ) {}

  get size(): number {
    return this.byNonce.size;
  }

  /** Marks a token used; false when it was used before (or nothing more can be remembered). */
  claim(nonce: string, exp: number): boolean {
    this.prune(false);
    if (this.byNonce.has(nonce)) return false;
    if (this.byNonce.size >= this.max) {
      this.prune(true);
      if (this.byNonce.size >= this.max) return false;
    }
    this.byNonce.set(nonce, exp);
    return true;
  }

  private prune(all: boolean): void {
    const now = this.now();
    for (const [nonce, exp] of this.byNonce) {
      if (exp <= now) this.byNonce.delete(nonce);
      else if (!all) break;
    }
  }
}

/**
 * Who is opening a stream connection: an API key in `X-API-Key` (scripts, services), or a
 * short-lived `?token=` the gateway issued for the purpose 'stream' (browsers cannot set headers
 * on a WebSocket). A token is good for one connection and dies with the key it was issued for.
 * Neither is ever logged.
 */
export function streamAuthenticator(keys: KeyStore, tokens: TokenSigner, used = new UsedTokens()) {
  return async (req: IncomingMessage, url: URL): Promise<KeyIdentity | null> => {
    const header = req.headers['x-api-key'];
    if (typeof header === 'string' && header) return keys.verify(header);
    const token = url.searchParams.get('token');
    if (!token) return null;
    const claims = tokens.verify(token, 'stream');
    if (!claims || typeof claims.nonce !== 'string') return null;
    const identity = await keys.identityOf(claims.kid);
    // Spent only once it has let someone in, so a token refused for its key is not consumed.
    return identity && used.claim(claims.nonce, claims.exp) ? identity : null;
  };
}
