import helmet from '@fastify/helmet';
import rateLimitPlugin from '@fastify/rate-limit';
import Fastify from 'fastify';
import { KEYS_FILE_SHOWN_AS, KeyStore } from '../../kernel/auth/keys.js';
import { TokenSigner } from '../../kernel/auth/tokens.js';
import { AddressList } from '../../kernel/client-ip.js';
import { UnusableFileError } from '../../kernel/durable-file.js';
import { type AppError, CODE, fail } from '../../kernel/errors.js';
import { internalHeadersOf } from '../../kernel/internal-auth.js';
import type { App, ServiceDefinition } from '../../kernel/service.js';
import { DATA_FILE_RUNBOOK, refuseEveryRequest, reportUnusable } from '../../kernel/unusable.js';
import { registerAccountCheck } from './accounts.js';
import { Authenticator, adminByDefault, registerAuth } from './auth.js';
import { registerCompatRoutes } from './compat.js';
import { healthDetailsGuard, systemHealth } from './health.js';
import { gatewayMetrics, metricsGuard, readMetricsToken } from './metrics.js';
import { registerOpenApi, registerOpenApiDocument, SECURITY } from './openapi.js';
import { API_PREFIX, ROUTE_GROUPS, rateLimit, registerProxyRoutes, upstreamOf } from './routes.js';
import { Sessions } from './session.js';
import { registerSessionRoutes } from './session-routes.js';
import { registerSloRoute } from './slo.js';
import { registerStaticFiles, staticRoot } from './static.js';

/**
 * The gateway (port 8000), the one front door: API keys with roles, browser sessions, rate limits,
 * security headers, the REST API under `/api/v1` proxied to the services, their aggregated health,
 * the OpenAPI docs and the dashboard's files. No CORS: browsers reach it from its own origin only.
 */
export const gatewayService: ServiceDefinition = {
  name: 'gateway',
  trustProxy: (config) => new AddressList(config.services.gateway.trustedProxies).has,
  frontDoor: true,
  async setup(ctx) {
    const { app, config, logger, metrics, clock, addHealthCheck } = ctx;
    const gw = config.services.gateway;
    const now = () => clock.now();
    const keys = KeyStore.at(config.home, now, logger, config.auth);
    let keysRefusal: (() => AppError) | undefined;
    try {
      const initialKeyFile = await keys.ensureInitialAdmin();
      if (initialKeyFile) {
        logger.warn(
          { event: 'gateway.initial_admin_key', file: initialKeyFile },
          'no API keys existed: an admin key was written to this file; store it elsewhere and delete the file',
        );
      }
      addHealthCheck('keys', () => keys.health());
    } catch (err) {
      // A damaged keys file admits nobody and is never replaced by a new admin key.
      if (!(err instanceof UnusableFileError)) throw err;
      keysRefusal = reportUnusable(
        ctx,
        'keys',
        { file: err.file, reason: err.reason },
        {
          code: CODE.KEYS_UNAVAILABLE,
          runbook: DATA_FILE_RUNBOOK,
          shownAs: KEYS_FILE_SHOWN_AS,
          event: 'gateway.keys_unusable',
        },
      );
    }

    // JSON only: without this, text/plain bodies would be accepted as strings.
    app.removeContentTypeParser('text/plain');
    const security = await securityHeaders();
    app.addHook('onRequest', (_req, reply, done) => {
      reply.headers(security);
      done();
    });
    await app.register(rateLimitPlugin, {
      global: false,
      hook: 'preHandler', // after authentication, so limits are per key
      errorResponseBuilder: (_req, ctx) =>
        // ctx.statusCode is 429 too: the plugin's 403 is for `ban`, which is not set.
        fail.RATE_LIMITED(`more than ${ctx.max} requests a minute; retry in ${ctx.after}`, {
          limit: ctx.max,
          retryAfter: ctx.after,
        }),
    });
    const signer = TokenSigner.at(config.home, now);
    const sessions = new Sessions(signer, keys, { ttlMs: gw.sessionTtlMs, secure: gw.secureCookies }, now);
    const auth = new Authenticator(
      keys,
      sessions,
      gw.authFailuresPerMinute,
      now,
      config.auth.concurrentPerIp,
    );
    registerAuth(app, auth, gw.unauthenticatedPerMinute, now);
    ctx.hookBaseRoute('/health', { preSerialization: healthDetailsGuard(auth) });
    ctx.hookBaseRoute('/metrics', {
      onRequest: metricsGuard(readMetricsToken(gw.metricsTokenFile, config.home)),
    });
    await registerOpenApi(app);
    const proxy = {
      timeoutMs: gw.upstreamTimeoutMs,
      maxBufferedBytes: gw.maxBufferedAnswerBytes,
      logger,
      metrics: gatewayMetrics(metrics.registry),
      internalHeaders: internalHeadersOf(ctx.internalToken),
    };

    // The REST API: one plugin, so its default role, account check and refusal apply to it alone.
    const restApi = async (api: App) => {
      adminByDefault(api);
      // No key can be checked: the API has no routes, and every request under it gets the refusal.
      if (keysRefusal) return refuseEveryRequest(api, keysRefusal);
      const orderManager = upstreamOf(config.services, 'order-manager');
      registerAccountCheck(api, keys, config.services['order-manager'].account, orderManager, proxy);
      registerOpenApiDocument(api);
      registerSessionRoutes(api, auth, signer, {
        streamTokenTtlMs: gw.streamTokenTtlMs,
        stream: config.services.stream,
        readsPerMinute: gw.readsPerMinute,
      });

      const limits = { read: gw.readsPerMinute, order: gw.ordersPerMinute, write: gw.ideaWritesPerMinute };
      registerProxyRoutes(api, ROUTE_GROUPS, config.services, limits, proxy);
      registerCompatRoutes(api, config.services, limits, proxy);

      api.get(
        '/health',
        {
          schema: {
            tags: ['system'],
            summary: 'Every service, the broker connection and the feeds; 503 when any service is down',
            description: 'Role: viewer.',
            security: SECURITY,
          },
          config: { access: 'viewer', rateLimit: rateLimit(gw.readsPerMinute) },
        },
        async (_req, reply) => {
          const health = await systemHealth(config, gw.upstreamTimeoutMs);
          reply.status(health.status === 'down' ? 503 : 200);
          return health;
        },
      );
      registerSloRoute(api, config, now);
    };
    await app.register(restApi, { prefix: API_PREFIX });

    const root = staticRoot(gw.staticDir);
    const serving = await registerStaticFiles(app, root);
    logger.info({ event: 'gateway.static_files', root, serving }, `serving the ${serving} at /`);
  },
};

/**
 * helmet's security headers, worked out once: @fastify/helmet rebuilds its middleware (parsing the
 * CSP) on every request, about a tenth of the gateway's CPU on a small answer, and with one global
 * configuration the headers are the same for every route.
 */
async function securityHeaders(): Promise<Record<string, string>> {
  const probe = Fastify();
  await probe.register(helmet, {
    global: true,
    // Our pages load only same-origin files; over plain http to a non-loopback address, upgrading
    // those requests to https would break every page.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  });
  let headers: Record<string, string> = {};
  // helmet sets them on the raw response before the handler runs; nothing else has.
  probe.get('/', async (_req, reply) => {
    headers = Object.fromEntries(Object.entries(reply.raw.getHeaders()).map(([k, v]) => [k, String(v)]));
    return '';
  });
  await probe.inject('/');
  await probe.close();
  if (!headers['content-security-policy']) throw new Error('helmet set no security headers');
  return headers;
}
