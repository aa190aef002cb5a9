import type { FastifyRequest } from 'fastify';
import { accountsOf, type KeyStore, mayTradeFor } from '../../kernel/auth/keys.js';
import { AppError } from '../../kernel/errors.js';
import type { App } from '../../kernel/service.js';
import { identityOf } from './auth.js';

/**
 * Routes that create an order, and the account it is for: the body's `account` where the route
 * takes one, else the configured account (execute and signals always trade on it).
 */
const ORDER_ROUTES: Record<string, (req: FastifyRequest) => unknown> = {
  'POST /api/v1/orders': (req) => (req.body as { account?: unknown } | null)?.account,
  'POST /api/v1/execute': () => undefined,
  'POST /api/v1/signals': () => undefined,
};

/**
 * A key trades only for its accounts (finding 9: any trader could name any account). Checked after
 * authentication and validation, before the order reaches the order manager; 403 names the account.
 */
export function registerAccountCheck(app: App, keys: KeyStore, configured: string): void {
  app.addHook('preHandler', (req, _reply, done) => {
    const accountIn = ORDER_ROUTES[`${req.method} ${req.routeOptions.url}`];
    const identity = identityOf(req);
    if (!accountIn || !identity) return done();
    const named = accountIn(req);
    // A non-string account is the order manager's to refuse (400 naming the field).
    const account = named === undefined ? configured : named;
    if (typeof account !== 'string') return done();
    const record = keys.recordOf(identity.id);
    if (record && mayTradeFor(record, configured, account)) return done();
    done(
      new AppError(403, 'ACCOUNT_FORBIDDEN', `this key may not trade for account '${account}'`, {
        field: 'account',
        account,
        allowed: record ? accountsOf(record, configured) : [],
        key: identity.id,
      }),
    );
  });
}
