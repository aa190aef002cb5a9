import type { IncomingMessage } from 'node:http';
import type { KeyIdentity, KeyStore } from '../../kernel/auth/keys.js';
import type { TokenSigner } from '../../kernel/auth/tokens.js';

/**
 * Who is opening a stream connection: an API key in `X-API-Key` (scripts, services), or a
 * short-lived `?token=` the gateway issued for the purpose 'stream' (browsers cannot set headers
 * on a WebSocket). A token dies with the key it was issued for. Neither is ever logged.
 */
export function streamAuthenticator(keys: KeyStore, tokens: TokenSigner) {
  return async (req: IncomingMessage, url: URL): Promise<KeyIdentity | null> => {
    const header = req.headers['x-api-key'];
    if (typeof header === 'string' && header) return keys.verify(header);
    const token = url.searchParams.get('token');
    if (!token) return null;
    const claims = tokens.verify(token, 'stream');
    return claims ? keys.identityOf(claims.kid) : null;
  };
}
