import Type, { type Static } from 'typebox';
import {
  address,
  ConfigError,
  type ServiceConfigSection,
  section,
  TrustedProxy,
} from '../../kernel/config.js';

/** `services.stream`: the WebSocket hub: its endpoint and the limits per client, key and IP. */
const StreamConfigSchema = Type.Object(
  {
    ...address(9001),
    /** The WebSocket endpoint. */
    path: Type.String({ pattern: '^/[a-z0-9/_-]*$', default: '/ws' }),
    /** Connections beyond this are refused with 503. */
    maxClients: Type.Integer({ minimum: 1, default: 1_000 }),
    /** Connections of one API key (its stream tokens included); more are refused with 429. */
    maxClientsPerKey: Type.Integer({ minimum: 1, default: 20 }),
    /** Connections from one client IP; more are refused with 429 before any key is checked. */
    maxClientsPerIp: Type.Integer({ minimum: 1, default: 50 }),
    /** Proxies (IPs or CIDRs) whose X-Forwarded-For names the client, for the per-IP limits. */
    trustedProxies: Type.Array(TrustedProxy, { default: [] }),
    /**
     * Upgrades still being authenticated at once; more are refused with 503. As many as
     * maxClients by default: every dashboard reconnecting after a restart gets in.
     */
    maxPendingUpgrades: Type.Integer({ minimum: 1, default: 1_000 }),
    /** Failed authentications per client IP in a minute before its upgrades get 429. */
    authFailuresPerMinute: Type.Integer({ minimum: 1, default: 10 }),
    maxSubscriptionsPerClient: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
    /** Largest frame a client may send; a bigger one closes the connection with 1009. */
    maxFrameBytes: Type.Integer({ minimum: 256, maximum: 1_048_576, default: 16_384 }),
    /** Socket buffer above which a client is behind: market data conflates to the latest per channel. */
    maxBufferedBytes: Type.Integer({ minimum: 1_024, default: 262_144 }),
    /** Undroppable messages (orders, positions, risk, replies) queued for a client beyond this: disconnected. */
    maxQueuedBytes: Type.Integer({ minimum: 1_024, default: 1_048_576 }),
    /** Ping period; a client that has not answered the previous ping is cut off (0 = off). */
    heartbeatIntervalMs: Type.Integer({ minimum: 0, default: 15_000 }),
    /** How often every service's /health is polled for the `health` channel. */
    healthIntervalMs: Type.Integer({ minimum: 100, default: 3_000 }),
  },
  section,
);

declare module '../../kernel/config.js' {
  interface ServiceConfigs {
    stream: Static<typeof StreamConfigSchema>;
  }
}

export const streamConfig: ServiceConfigSection = {
  schema: StreamConfigSchema,
  // Every stream client is a connection: the per-service cap must leave room for them and requests.
  settle({ http, services }) {
    if (services.stream.maxClients >= http.maxConnections) {
      throw new ConfigError(
        'http.maxConnections',
        `invalid config: http.maxConnections ${http.maxConnections} must exceed services.stream.maxClients ${services.stream.maxClients}`,
      );
    }
  },
};
