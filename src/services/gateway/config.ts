import Type, { type Static } from 'typebox';
import { address, type ServiceConfigSection, section, TrustedProxy } from '../../kernel/config.js';

/**
 * `services.gateway`: the front door: upstream timeouts, rate limits, sessions, allowed hosts and
 * origins, proxies.
 */
const GatewayConfigSchema = Type.Object(
  {
    ...address(8000),
    upstreamTimeoutMs: Type.Integer({ minimum: 100, default: 5_000 }),
    authFailuresPerMinute: Type.Integer({ minimum: 1, default: 10 }),
    /**
     * Requests per client IP in a minute that present no credential checked by a route
     * (public routes, unknown paths); more get 429. Dashboard files and health included.
     */
    unauthenticatedPerMinute: Type.Integer({ minimum: 1, default: 600 }),
    /** Largest upstream answer the gateway reads whole (to rework it); proxied answers stream. */
    maxBufferedAnswerBytes: Type.Integer({ minimum: 1_024, default: 8 * 1_048_576 }),
    readsPerMinute: Type.Integer({ minimum: 1, default: 1_200 }),
    ordersPerMinute: Type.Integer({ minimum: 1, default: 120 }),
    /** Changes to ideas per key per minute: each one rewrites the idea bank's file. */
    ideaWritesPerMinute: Type.Integer({ minimum: 1, default: 60 }),
    /** How long a browser session (the cookie from POST /api/v1/session) lasts. */
    sessionTtlMs: Type.Integer({ minimum: 1_000, default: 8 * 3_600_000 }),
    /** How long a stream token (POST /api/v1/stream/token) may be used to connect. */
    streamTokenTtlMs: Type.Integer({ minimum: 1_000, maximum: 600_000, default: 60_000 }),
    /**
     * Host names (or `name:port`) the gateway answers to besides 127.0.0.1, localhost, ::1 and
     * its bind host: the name browsers use to reach it. Any other Host is refused (DNS rebinding).
     */
    allowedHosts: Type.Array(Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]{1,261}$' }), {
      default: [],
    }),
    /**
     * Browser origins (`https://desk.example`) allowed besides the gateway's own; a request with
     * any other `Origin` is refused, at the gateway and at the stream's WebSocket.
     */
    allowedOrigins: Type.Array(Type.String({ pattern: '^https?://[^/]+$' }), { default: [] }),
    /** Marks the session cookie Secure: turn on when browsers reach the gateway over HTTPS. */
    secureCookies: Type.Boolean({ default: false }),
    /**
     * Proxies (IPs or CIDRs) in front of the gateway, e.g. a TLS terminator: only a request
     * from one of them is taken to come from the client its X-Forwarded-For names, for the
     * per-IP budgets and failed-login limits. None by default: X-Forwarded-For is ignored.
     */
    trustedProxies: Type.Array(TrustedProxy, { default: [] }),
    /**
     * A file holding the bearer token that lets a scraper off loopback read `/metrics`
     * (Prometheus: `authorization.credentials_file`). Empty: `/metrics` answers loopback only.
     * A relative path is taken from the data home.
     */
    metricsTokenFile: Type.String({ default: '' }),
    /** The dashboard's built files served at `/`; a relative path is taken from the project folder. */
    staticDir: Type.String({ minLength: 1, default: 'web/dist' }),
  },
  section,
);

declare module '../../kernel/config.js' {
  interface ServiceConfigs {
    gateway: Static<typeof GatewayConfigSchema>;
  }
}

export const gatewayConfig: ServiceConfigSection = {
  schema: GatewayConfigSchema,
};
