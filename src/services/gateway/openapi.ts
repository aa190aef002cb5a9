import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { App } from '../../kernel/service.js';
import { SESSION_COOKIE } from './session.js';

/** What a protected route accepts: an API key header, or the browser session cookie. */
export const SECURITY: Record<string, string[]>[] = [{ apiKey: [] }, { session: [] }];

/**
 * The OpenAPI 3 document, generated from the route schemas registered after this call, and the
 * interactive page at `/docs` (public). `registerOpenApiDocument` serves the document in the API.
 */
export async function registerOpenApi(app: App): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'TradingSystem API',
        version: '1',
        description:
          'The gateway to the TradingSystem services. Authenticate with an `X-API-Key` header, or in a ' +
          'browser with the session cookie from `POST /api/v1/session`; with the cookie, every POST, PUT, ' +
          'PATCH and DELETE needs the `X-CSRF-Token` header from `GET /api/v1/session`.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        },
      },
    },
    hideUntagged: true,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, transformStaticCSP: docsCsp });
}

/** `GET /openapi.json` in the API plugin (`/api/v1/openapi.json`), public. */
export function registerOpenApiDocument(api: App): void {
  api.get('/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () =>
    api.swagger(),
  );
}

/**
 * swagger-ui's own policy (its files only), with two changes: its scripts set inline styles, which
 * that policy refuses (a CSP error in Chromium), and `upgrade-insecure-requests` would make a
 * browser on plain http to a non-loopback address fetch the page's files over https, and fail.
 */
const docsCsp = (header: string) =>
  header
    .replace(/style-src [^;]*/, "style-src 'self' https: 'unsafe-inline'")
    .replace(/;\s*upgrade-insecure-requests\s*;?/, ';');
