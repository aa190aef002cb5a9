import Type, { type Static } from 'typebox';
import type { TokenSigner } from '../../kernel/auth/tokens.js';
import type { App } from '../../kernel/service.js';
import { type Authenticator, type Credential, credentialOf } from './auth.js';
import { SECURITY } from './openapi.js';
import { rateLimit } from './routes.js';
import { refuseCrossSite } from './session.js';

const LoginBody = Type.Object(
  { key: Type.String({ minLength: 1, maxLength: 200, description: 'an API key, tsk_…' }) },
  { additionalProperties: false },
);
/**
 * No input (the token is for the caller's key): no body, or an empty JSON object. Without a
 * `type`, the object keywords apply to an object only, so a missing body (null) passes too.
 */
const NoBody = Type.Unsafe<Record<string, never> | null>({
  description: 'no body, or {}',
  additionalProperties: false,
  not: { type: ['string', 'number', 'boolean', 'array'] },
});

const Identity = Type.Object({ id: Type.String(), name: Type.String(), role: Type.String() });
/** Who the caller is. A response schema also keeps anything else (a token) out of the answer. */
const SessionInfo = Type.Object({
  key: Identity,
  via: Type.Enum(['key', 'session']),
  expiresAt: Type.Optional(Type.String({ description: 'when the session ends (ISO-8601)' })),
  csrfToken: Type.Optional(
    Type.String({ description: 'send as X-CSRF-Token on every POST, PUT, PATCH and DELETE of the session' }),
  ),
});
const StreamToken = Type.Object({
  token: Type.String(),
  expiresAt: Type.String(),
  url: Type.String({ description: 'where to connect: the stream service with the token' }),
});

export interface SessionRouteOptions {
  streamTokenTtlMs: number;
  /** Where the stream service listens (its port and WebSocket path). */
  stream: { port: number; path: string };
  readsPerMinute: number;
}

/**
 * Browser sign-in: `POST /api/v1/session` turns an API key into a session cookie, `GET` says who
 * is signed in (with the CSRF token), `DELETE` signs out. `POST /api/v1/stream/token` gives a
 * one-minute token for the stream's WebSocket, which a browser cannot open with a header.
 */
export function registerSessionRoutes(
  app: App,
  auth: Authenticator,
  signer: TokenSigner,
  opts: SessionRouteOptions,
): void {
  const sessions = auth.sessions;
  const limit = rateLimit(opts.readsPerMinute);
  const schema = (summary: string, description: string, extra: object) => ({
    tags: ['session'],
    summary,
    description,
    ...extra,
  });
  const info = (c: Credential) => ({
    key: c.identity,
    via: c.via,
    ...(c.via === 'session' && {
      expiresAt: new Date(c.claims.exp).toISOString(),
      csrfToken: sessions.csrfTokenOf(c.token),
    }),
  });

  app.post(
    '/session',
    {
      schema: schema(
        'Sign in with an API key: sets the session cookie',
        'Public. A wrong key counts toward the failed-login limit (429).',
        { body: LoginBody, response: { 200: SessionInfo } },
      ),
      config: { access: 'public', rateLimit: limit },
    },
    async (req, reply) => {
      refuseCrossSite(req); // no signing a victim's browser in to an attacker's key
      const { key } = req.body as Static<typeof LoginBody>; // validated by the route's schema
      const identity = await auth.login(req, reply, key);
      const session = sessions.start(identity, reply);
      reply.header('cache-control', 'no-store');
      return info({ via: 'session', ...session });
    },
  );

  app.get(
    '/session',
    {
      schema: schema('Who is signed in, until when, and the CSRF token', 'Role: viewer.', {
        security: SECURITY,
        response: { 200: SessionInfo },
      }),
      config: { access: 'viewer', rateLimit: limit },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      return info(credentialOf(req) as Credential);
    },
  );

  app.delete(
    '/session',
    {
      schema: schema('Sign out: ends the session and clears its cookie', 'Role: viewer.', {
        security: SECURITY,
      }),
      config: { access: 'viewer', rateLimit: limit },
    },
    async (req, reply) => {
      const c = credentialOf(req) as Credential;
      sessions.end(reply, c.via === 'session' ? c : undefined);
      return reply.status(204).send();
    },
  );

  app.post(
    '/stream/token',
    {
      schema: schema(
        'A short-lived token to connect to the stream (WebSocket)',
        `Role: viewer. Valid for ${Math.round(opts.streamTokenTtlMs / 1000)} s; connect to the returned url.`,
        { security: SECURITY, body: NoBody, response: { 200: StreamToken } },
      ),
      config: { access: 'viewer', rateLimit: limit },
    },
    async (req, reply) => {
      const c = credentialOf(req) as Credential;
      // Through a session, the stream lasts no longer than the session.
      const until = c.via === 'session' ? c.claims.exp : undefined;
      const { token, claims } = signer.issue(c.identity.id, 'stream', opts.streamTokenTtlMs, until);
      const scheme = req.protocol === 'https' ? 'wss' : 'ws';
      reply.header('cache-control', 'no-store');
      return {
        token,
        expiresAt: new Date(claims.exp).toISOString(),
        // The host the client reached the gateway by: the stream listens beside it.
        url: `${scheme}://${req.hostname}:${opts.stream.port}${opts.stream.path}?token=${encodeURIComponent(token)}`,
      };
    },
  );
}
