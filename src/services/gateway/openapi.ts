import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { App } from '../../kernel/service.js';

/**
 * The OpenAPI 3 document, generated from the route schemas registered after this call, at
 * `/api/v1/openapi.json`, and the interactive page at `/docs`. Both are public.
 */
export async function registerOpenApi(app: App): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'TradingSystem API',
        version: '1',
        description: 'The gateway to the TradingSystem services. Authenticate with an `X-API-Key` header.',
      },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
    },
    hideUntagged: true,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/api/v1/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () =>
    app.swagger(),
  );
}
