import type { FastifyRequest } from 'fastify';
import { ALL_ACCOUNTS, accountsOf, type KeyStore } from '../../kernel/auth/keys.js';
import { type AppError, fail } from '../../kernel/errors.js';
import type { App } from '../../kernel/service.js';
import { identityOf } from './auth.js';
import { callUpstream, type ProxyOptions, type Upstream } from './proxy.js';

type Body = Record<string, unknown> | null | undefined;

/**
 * Which account a route's request trades for, declared in its route config: `named` in the body (or
 * the configured one), always the `configured` one, that `of-order` it changes or cancels, or the
 * `cancel-all` list.
 */
export type AccountRule = 'named' | 'configured' | 'of-order' | 'cancel-all';

declare module 'fastify' {
  interface FastifyContextConfig {
    account?: AccountRule;
  }
}

/**
 * A key trades only for its accounts (finding 9: any trader could name any account). Checked after
 * authentication and validation, before the request reaches the order manager, on each route whose
 * config names an `account` rule; 403 names the account. Cancel-all is narrowed to the key's
 * accounts. Settling an UNKNOWN order is an admin's reconciliation act and is not narrowed.
 */
export function registerAccountCheck(
  app: App,
  keys: KeyStore,
  configured: string,
  orderManager: Upstream,
  proxy: ProxyOptions,
): void {
  /** The account an existing order is for, or undefined when the order manager has no such order. */
  const accountOfOrder = async (req: FastifyRequest): Promise<unknown> => {
    const { id } = req.params as { id: string };
    const answer = await callUpstream(
      req,
      orderManager,
      { method: 'GET', path: `/api/orders/${encodeURIComponent(id)}` },
      proxy,
    );
    // Not found or not answerable: the change itself gets the order manager's own answer.
    if (answer.status !== 200) return undefined;
    return (JSON.parse(answer.text) as { data?: { account?: unknown } }).data?.account;
  };

  const CHECKS: Record<AccountRule, (req: FastifyRequest, mine: readonly string[]) => unknown> = {
    named: (req, mine) => forbidden((req.body as Body)?.account ?? configured, mine),
    configured: (_req, mine) => forbidden(configured, mine),
    'of-order': async (req, mine) => forbidden(await accountOfOrder(req), mine),
    'cancel-all': (req, mine) => {
      const body = req.body as Body;
      // No body is the order manager's to refuse (400), and then nothing is cancelled.
      if (!body || typeof body !== 'object') return undefined;
      const named = body.accounts;
      if (named === undefined) {
        body.accounts = [...mine];
        return undefined;
      }
      // A non-array is the order manager's to refuse (400 naming the field).
      return Array.isArray(named) ? named.map((a) => forbidden(a, mine)).find(Boolean) : undefined;
    },
  };

  app.addHook('preHandler', async (req) => {
    const rule = req.routeOptions.config.account;
    const identity = identityOf(req);
    if (!rule || !identity) return;
    const record = keys.recordOf(identity.id);
    const mine = record ? accountsOf(record, configured) : [];
    if (mine.includes(ALL_ACCOUNTS)) return;
    const refusal = await CHECKS[rule](req, mine);
    if (refusal) throw refusal;
  });

  /** The refusal for an account this key may not trade for; undefined when it may (or it is no string). */
  function forbidden(account: unknown, mine: readonly string[]): AppError | undefined {
    // A non-string account is the order manager's to refuse (400 naming the field).
    if (typeof account !== 'string' || mine.includes(account)) return undefined;
    return fail.ACCOUNT_FORBIDDEN(`this key may not trade for account '${account}'`, {
      field: 'account',
      account,
      allowed: mine,
    });
  }
}
