import type { IncomingMessage } from 'node:http';
import type { KeyStore } from '../../kernel/auth/keys.js';
import type { TokenSigner } from '../../kernel/auth/tokens.js';
import { UsedTokens } from '../../kernel/auth/used-tokens.js';
import type { Admission } from './hub.js';

/**
 * Who is opening a stream connection: an API key in `X-API-Key` (scripts, services), or a
 * short-lived `?token=` the gateway issued for the purpose 'stream' (browsers cannot set headers
 * on a WebSocket). A token is good for one connection and dies with the key it was issued for;
 * one issued through a browser session admits until that session's expiry. Neither is ever logged.
 */
export function streamAuthenticator(keys: KeyStore, tokens: TokenSigner, used = new UsedTokens()) {
  return async (req: IncomingMessage, url: URL): Promise<Admission | null> => {
    const header = req.headers['x-api-key'];
    if (typeof header === 'string' && header) {
      const identity = await keys.verify(header);
      return identity && { identity };
    }
    const token = url.searchParams.get('token');
    if (!token) return null;
    const claims = tokens.verify(token, 'stream');
    if (!claims || typeof claims.nonce !== 'string') return null;
    const identity = await keys.identityOf(claims.kid);
    // Spent only once it has let someone in, so a token refused for its key is not consumed.
    if (!identity || !used.claim(claims.nonce, claims.exp)) return null;
    return { identity, ...(claims.until !== undefined && { until: claims.until }) };
  };
}
