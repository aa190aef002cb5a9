import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Type, { type Static, type TObject, type TSchema } from 'typebox';
import { AddressList } from './client-ip.js';
import { assertTimeZone, isWholeHourZone } from './time.js';
import { createAjv, describe } from './validation.js';

/** The services the supervisor knows, in dependency order. */
export const SERVICE_NAMES = [
  'data-capture',
  'order-manager',
  'stream',
  'gateway',
  'idea-bank',
  'docs',
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * The services whose code exists, in the same order: only these are started, fronted and probed.
 * src/services/registry.ts loads each, and the compiler holds it to this list.
 */
export const IMPLEMENTED_SERVICES = [
  'data-capture',
  'order-manager',
  'stream',
  'gateway',
  'idea-bank',
  'docs',
] as const satisfies readonly ServiceName[];
export type ImplementedService = (typeof IMPLEMENTED_SERVICES)[number];

const Port = Type.Integer({ minimum: 1, maximum: 65535 });

/** Where a service listens, and whether the supervisor starts it: the start of every service's section. */
export const address = (port: number) => ({
  host: Type.String({ minLength: 1, default: '127.0.0.1' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, default: port }),
  enabled: Type.Boolean({ default: true }),
});
/** The options of a config section: no unknown keys, and every default applies when it is left out. */
export const section = { additionalProperties: false, default: {} } as const;
/** An IPv4/IPv6 address or CIDR, e.g. `127.0.0.1`, `10.0.0.0/8`, `::1` (checked in full at start). */
export const TrustedProxy = Type.String({ pattern: '^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$' });

/** A process the supervisor runs besides the built-in services (a test service, an exporter). */
const ExtraProcess = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9-]*$' }),
    command: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    host: Type.String({ minLength: 1, default: '127.0.0.1' }),
    port: Port,
    healthPath: Type.String({ default: '/health' }),
    dependsOn: Type.Array(Type.String(), { default: [] }),
    env: Type.Record(Type.String(), Type.String(), { default: {} }),
  },
  { additionalProperties: false },
);

const InstrumentSchema = Type.Object(
  {
    symbol: Type.String({ pattern: '^[A-Z0-9]{4,12}$' }),
    exchange: Type.String({ minLength: 1, maxLength: 4 }),
    kind: Type.Enum(['future', 'equity']),
    tickSize: Type.Number({ exclusiveMinimum: 0 }),
    pointValue: Type.Number({ exclusiveMinimum: 0 }),
    lotSize: Type.Integer({ minimum: 1 }),
    sessionOpen: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }),
    sessionClose: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }),
    referencePrice: Type.Number({ exclusiveMinimum: 0 }),
  },
  { additionalProperties: false },
);

/**
 * The instruments of a config that names none: plain data here, so the kernel needs nothing from
 * the domain (whose `Instrument` has this shape); tests use them as their instruments too.
 */
export const DEFAULT_INSTRUMENTS: Static<typeof InstrumentSchema>[] = [
  {
    symbol: 'WINZ26',
    exchange: 'F',
    kind: 'future',
    tickSize: 5,
    pointValue: 0.2,
    lotSize: 1,
    sessionOpen: '09:00',
    sessionClose: '18:25',
    referencePrice: 128_000,
  },
  {
    symbol: 'WDOZ26',
    exchange: 'F',
    kind: 'future',
    tickSize: 0.5,
    pointValue: 10,
    lotSize: 1,
    sessionOpen: '09:00',
    sessionClose: '18:30',
    referencePrice: 5_400,
  },
  {
    symbol: 'PETR4',
    exchange: 'B',
    kind: 'equity',
    tickSize: 0.01,
    pointValue: 1,
    lotSize: 100,
    sessionOpen: '10:00',
    sessionClose: '17:00',
    referencePrice: 38.5,
  },
  {
    symbol: 'VALE3',
    exchange: 'B',
    kind: 'equity',
    tickSize: 0.01,
    pointValue: 1,
    lotSize: 100,
    sessionOpen: '10:00',
    sessionClose: '17:00',
    referencePrice: 61.2,
  },
];

/** The deterministic B3 simulator, the embedded default broker. */
const SimSchema = Type.Object(
  {
    seed: Type.Integer({ default: 20_260_101 }),
    /** Average trades per second per instrument; bursts go above it. */
    tradesPerSecond: Type.Number({ minimum: 0.01, maximum: 100_000, default: 20 }),
    /** Peak-to-average ratio of the bursts. */
    burstFactor: Type.Number({ minimum: 1, maximum: 20, default: 3 }),
    /** Apply each instrument's real session hours; by default the market is open whenever the system runs. */
    realHours: Type.Boolean({ default: false }),
    /** Tests: the simulated session opens at this instant (ISO-8601), trade numbers starting at 1. */
    openAt: Type.Optional(Type.String({ format: 'date-time' })),
    /** Tests: the simulated market closes for the day at this instant (ISO-8601), so the tape has a known end. */
    closeAt: Type.Optional(Type.String({ format: 'date-time' })),
    /** Closed orders the simulated venue keeps in memory; its file holds them all for reports. */
    closedOrdersInMemory: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 1_000 }),
  },
  section,
);

/**
 * Nelogica's ProfitDLL, the production broker (`services.data-capture.broker: profitdll`): data-capture
 * logs in for market data, the order manager with routing. The login secrets are never in config:
 * they come from `credentialsFile` or the environment (PROFITDLL_ACTIVATION_KEY, PROFITDLL_USER,
 * PROFITDLL_PASSWORD, PROFITDLL_ROUTING_PASSWORD).
 */
const ProfitDllSchema = Type.Object(
  {
    /** The DLL: a path, or a name the system's loader finds (`ProfitDLL64.dll` beside the program). */
    library: Type.String({ minLength: 1, default: 'ProfitDLL64.dll' }),
    /**
     * A file of `NAME=value` lines with the four names above; on POSIX it must not be readable by
     * group or others. Without it, the environment is read.
     */
    credentialsFile: Type.Optional(Type.String({ minLength: 1 })),
    /** The broker's id of the traded account (services.order-manager.account); 0: as the DLL reports it. */
    brokerId: Type.Integer({ minimum: 0, default: 0 }),
    /** A history request not finished within this fails; backfill asks again later. */
    historyTimeoutMs: Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 120_000 }),
    /** DLLFinalize not returned within this: the adapter gives up waiting and reports it. */
    finalizeTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 15_000 }),
  },
  section,
);

/** What the supervisor can notify about by itself (`notify.events`). */
export const NOTIFY_EVENT_KINDS = [
  'broker-escalation',
  'crash-loop',
  'kill-switch',
  'backup-failed',
  'disk-space',
] as const;
const NotifySeverity = Type.Enum(['warning', 'critical']);
/** Where a secret is kept: a file path or an environment variable's name, never the secret itself. */
const SecretFile = Type.Optional(Type.String({ minLength: 1 }));
const SecretEnv = Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }));
/**
 * Direct notification by the supervisor, for a desk without Prometheus/Alertmanager: no channel
 * configured (the default) sends nothing.
 */
const NotifySchema = Type.Object(
  {
    channels: Type.Object(
      {
        /** Slack incoming webhook; its URL is the secret. */
        slack: Type.Optional(
          Type.Object(
            { urlFile: SecretFile, urlEnv: SecretEnv, minSeverity: Type.Optional(NotifySeverity) },
            { additionalProperties: false },
          ),
        ),
        /** PagerDuty Events API v2; the integration's routing key is the secret. */
        pagerduty: Type.Optional(
          Type.Object(
            {
              routingKeyFile: SecretFile,
              routingKeyEnv: SecretEnv,
              url: Type.String({ format: 'uri', default: 'https://events.pagerduty.com/v2/enqueue' }),
              minSeverity: Type.Optional(NotifySeverity),
            },
            { additionalProperties: false },
          ),
        ),
        /** Any HTTP endpoint taking the event as JSON, signed with HMAC-SHA256 when a secret is named. */
        webhook: Type.Optional(
          Type.Object(
            {
              url: Type.String({ format: 'uri', pattern: '^https?://' }),
              secretFile: SecretFile,
              secretEnv: SecretEnv,
              minSeverity: Type.Optional(NotifySeverity),
            },
            { additionalProperties: false },
          ),
        ),
      },
      section,
    ),
    events: Type.Array(Type.Enum([...NOTIFY_EVENT_KINDS]), {
      uniqueItems: true,
      default: [...NOTIFY_EVENT_KINDS],
    }),
    /** Events below this are not sent (a channel may ask for more with its own minSeverity). */
    minSeverity: Type.Enum(['warning', 'critical'], { default: 'critical' }),
    /** Still active after this many minutes: sent again (0: once until it clears). */
    repeatAfterMinutes: Type.Number({ minimum: 0, maximum: 10_080, default: 0 }),
    /** Tries per notification and channel on network errors, 5xx and 429. */
    maxAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
    /** First wait between tries, doubled each time up to retryMaxMs (a Retry-After answer wins, up to retryMaxMs). */
    retryInitialMs: Type.Integer({ minimum: 10, maximum: 600_000, default: 1_000 }),
    retryMaxMs: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 60_000 }),
    /** Each HTTP request is abandoned (and retried) after this. */
    timeoutMs: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
    /** Notifications waiting per channel; beyond it the oldest is dropped (and logged). */
    queueSize: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
    /** How often the supervisor reads the free space of the data home for `disk-space`. */
    diskCheckMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
    /** Names this installation in notifications (PagerDuty `source`); empty: the host name. */
    source: Type.String({ maxLength: 255, default: '' }),
  },
  section,
);

/** The sections every process reads: where its data is, the market's zone and instruments, logs, HTTP. */
const PROCESS_SECTIONS = {
  home: Type.String({ minLength: 1 }),
  /**
   * The market's zone: sessions, Parquet dates, log files and daily jobs follow its local days. A
   * whole number of hours from UTC, since intraday bars are cut on UTC hours.
   */
  timezone: Type.String({ minLength: 1, default: 'America/Sao_Paulo' }),
  log: Type.Object(
    {
      level: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], { default: 'info' }),
      retentionDays: Type.Integer({ minimum: 1, default: 30 }),
      /**
       * When the supervisor removes log files older than `retentionDays` each day (local time in
       * `timezone`); a run missed while it was down is made up at its next start.
       */
      cleanAt: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', default: '00:30' }),
      /** A logged request URL is cut to this many characters: a client must not fill the disk with URLs. */
      maxUrlChars: Type.Integer({ minimum: 16, maximum: 65_536, default: 256 }),
      /**
       * Rejected-request (4xx) lines per route and status in a second; the rest are counted and
       * reported in one line, so a flood of bad requests costs a few lines a second.
       */
      rejectedLinesPerSecond: Type.Integer({ minimum: 1, maximum: 100_000, default: 10 }),
    },
    { additionalProperties: false, default: {} },
  ),
  /** Free space of the file system holding the data home (`tradingsystem check-disk`, every `/health`). */
  disk: Type.Object(
    {
      /** Free space below this share of the disk: warning (each service's `disk` check is degraded). */
      warnFreePercent: Type.Number({ minimum: 0, maximum: 100, default: 15 }),
      /**
       * Below this: critical. data-capture keeps journaling but pauses Parquet conversion, the order
       * manager goes on, and backups refuse to start rather than fill the disk.
       */
      criticalFreePercent: Type.Number({ minimum: 0, maximum: 100, default: 5 }),
      /** One reading of the free space is reused this long (every `/health` and scrape asks). */
      cacheMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 5_000 }),
    },
    { additionalProperties: false, default: {} },
  ),
  /** Limits of `tradingsystem health-check`. */
  healthCheck: Type.Object(
    {
      /** The newest good backup older than this is a problem (daily at 02:00 plus the time it takes). */
      backupMaxAgeHours: Type.Number({ exclusiveMinimum: 0, default: 26 }),
      /** Our clock against the exchange's trade timestamps: a larger offset is a problem. */
      clockMaxOffsetMs: Type.Integer({ minimum: 1, default: 1_000 }),
    },
    { additionalProperties: false, default: {} },
  ),
  http: Type.Object(
    {
      bodyLimitBytes: Type.Integer({ minimum: 1024, default: 1_048_576 }),
      shutdownTimeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
      /** A client must send all of a request's headers within this (else 408 and closed). */
      headersTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
      /** ...and the whole request, body included, within this: a slow body cannot hold a socket. */
      requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
      /**
       * An idle keep-alive connection is closed after this. The gateway's upstream pool closes its
       * own idle connections at half of the default (UPSTREAM_IDLE_SOCKET_MS): lower both together.
       */
      keepAliveTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 72_000 }),
      /** A socket with no traffic either way for this long is destroyed (WebSockets manage their own). */
      idleTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 120_000 }),
      /** Open connections per service (WebSockets included); a connection beyond it is closed at once. */
      maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 4_096 }),
    },
    { additionalProperties: false, default: {} },
  ),
  /** API key verification (gateway and stream): scrypt is deliberately slow, so it is rationed. */
  auth: Type.Object(
    {
      /** scrypt verifications running at once in a process (each ~45 ms of a core and 16 MB). */
      verifyConcurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
      /** Verifications waiting for a slot; beyond it a request is refused at once with 429. */
      verifyQueue: Type.Integer({ minimum: 0, maximum: 10_000, default: 64 }),
      /** Distinct keys being verified at once for one client IP; more are refused with 429. */
      concurrentPerIp: Type.Integer({ minimum: 1, maximum: 1_000, default: 4 }),
      /** A key that verified is trusted this long without scrypt (a revocation ends it at once). */
      verifiedCacheMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 60_000 }),
    },
    section,
  ),
  instruments: Type.Array(InstrumentSchema, { minItems: 1, default: DEFAULT_INSTRUMENTS }),
  sim: SimSchema,
  profitdll: ProfitDllSchema,
};

/** The operations kit's sections: backups, deploys, the OS service, notifications, monitoring, SLOs, the supervisor. */
const OPERATIONS_SECTIONS = {
  backup: Type.Object(
    {
      /** The supervisor backs up daily at this local time (config.timezone); a missed one is made up at start. */
      dailyAt: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', default: '02:00' }),
      /** Daily backup by the supervisor; off where an OS timer does it (`backup install-schedule`). */
      scheduled: Type.Boolean({ default: true }),
      /** Backups older than this many days are deleted (never the newest verified one). */
      retentionDays: Type.Integer({ minimum: 1, default: 30 }),
      /** Parquet partitions and log files of the last this many days go into a backup. */
      parquetDays: Type.Integer({ minimum: 1, default: 7 }),
      logDays: Type.Integer({ minimum: 1, default: 7 }),
    },
    section,
  ),
  /** Releases (`tradingsystem deploy`, `rollback`, `releases`): code only, never data. */
  deploy: Type.Object(
    {
      /**
       * Where releases are installed: `<dir>/<version>/`, the `current` pointer, the deploy log.
       * Outside the data home; a relative path is taken from the working directory.
       */
      dir: Type.String({ minLength: 1, default: 'releases' }),
      /** A service restarted on a new release must answer healthy within this, or the deploy rolls back. */
      healthTimeoutMs: Type.Integer({ minimum: 1_000, default: 60_000 }),
      /** Then every restarted service must stay up (same pid, healthy) this long before the deploy is done. */
      settleMs: Type.Integer({ minimum: 0, default: 10_000 }),
      /** Installed releases kept; older ones go after a good deploy (never the current or the previous good one). */
      keepReleases: Type.Integer({ minimum: 2, default: 5 }),
    },
    section,
  ),
  /** The supervisor as an OS service (`tradingsystem service install`): systemd on Linux, WinSW on Windows. */
  service: Type.Object(
    {
      /** The service's name; empty: `tradingsystem` (systemd unit) on Linux, `TradingSystem` on Windows. */
      name: Type.String({ pattern: '^([A-Za-z][A-Za-z0-9_-]{0,63})?$', default: '' }),
      /** Linux: the user the unit runs the supervisor as; empty runs it as root. */
      user: Type.String({ pattern: '^([a-z_][a-z0-9_-]{0,31})?$', default: '' }),
      /** Linux: the folder `service install` writes the unit file into. */
      unitDir: Type.String({ minLength: 1, default: '/etc/systemd/system' }),
      /** Linux: systemd restarts a supervisor that has not pinged its watchdog for this long (0: no watchdog). */
      watchdogSec: Type.Integer({ minimum: 0, maximum: 3_600, default: 30 }),
    },
    section,
  ),
  notify: NotifySchema,
  /** `tradingsystem monitoring up`: Prometheus and Alertmanager run from the installed programs. */
  monitoring: Type.Object(
    {
      /** Both listen here only; put a proxy with authentication in front to reach them from elsewhere. */
      host: Type.String({ minLength: 1, default: '127.0.0.1' }),
      prometheusPort: Type.Integer({ minimum: 1, maximum: 65535, default: 9090 }),
      alertmanagerPort: Type.Integer({ minimum: 1, maximum: 65535, default: 9093 }),
      /** Prometheus's --storage.tsdb.retention.time: the ops summary's 15 days. */
      retention: Type.String({ pattern: '^[0-9]+(ms|s|m|h|d|w|y)$', default: '15d' }),
      /** SIGTERM first; SIGKILL after this long. */
      stopTimeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
    },
    section,
  ),
  /** Service-level objectives measured by the system itself (`tradingsystem slo`, GET /api/v1/slo). */
  slo: Type.Object(
    {
      /** Market hours, local time in `timezone`, in which availability counts: B3's 09:00–18:00. */
      marketOpen: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', default: '09:00' }),
      /** Exclusive; `24:00` is the end of the day. */
      marketClose: Type.String({ pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$', default: '18:00' }),
      /** Weekdays the market trades, 0 = Sunday. */
      tradingDays: Type.Array(Type.Integer({ minimum: 0, maximum: 6 }), { default: [1, 2, 3, 4, 5] }),
      /** Skip B3's standing holidays (national holidays, Carnival, Good Friday, Corpus Christi, 24/31 Dec). */
      b3Holidays: Type.Boolean({ default: true }),
      /** More closed days (`YYYY-MM-DD`): what B3's yearly calendar adds to its rules. */
      holidays: Type.Array(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), { default: [] }),
      /** The supervisor's probe records are kept this many days (13 months: a year-on-year view). */
      retentionDays: Type.Integer({ minimum: 1, default: 400 }),
      /** How often the supervisor appends its per-minute probe aggregates. */
      flushIntervalMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 60_000 }),
    },
    section,
  ),
  supervisor: Type.Object(
    {
      healthTimeoutMs: Type.Integer({ minimum: 100, default: 30_000 }),
      healthIntervalMs: Type.Integer({ minimum: 50, default: 5_000 }),
      livenessFailures: Type.Integer({ minimum: 1, default: 3 }),
      backoffInitialMs: Type.Integer({ minimum: 10, default: 1_000 }),
      backoffMaxMs: Type.Integer({ minimum: 10, default: 60_000 }),
      backoffResetMs: Type.Integer({ minimum: 10, default: 60_000 }),
      crashLoopMax: Type.Integer({ minimum: 1, default: 5 }),
      crashLoopWindowMs: Type.Integer({ minimum: 1_000, default: 300_000 }),
      /** A crash-looping (`failed`) service is tried again this often; 0 leaves it down. */
      failedRetryMs: Type.Integer({ minimum: 0, default: 60_000 }),
      stopTimeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
      /** The supervisor's own `GET /metrics` and `GET /health` for Prometheus (plain HTTP). */
      metricsHost: Type.String({ minLength: 1, default: '127.0.0.1' }),
      /** 0: no metrics listener. */
      metricsPort: Type.Integer({ minimum: 0, maximum: 65535, default: 5099 }),
      extra: Type.Array(ExtraProcess, { default: [] }),
    },
    { additionalProperties: false, default: {} },
  ),
};

const KernelConfigSchema = Type.Object({ ...PROCESS_SECTIONS, ...OPERATIONS_SECTIONS });

/**
 * Each service's section of the config (`services.<name>`), declared by the service in its own
 * `config.ts` (declaration merging, as Fastify's `FastifyContextConfig`): the kernel names no
 * service's keys. The compiler refuses a `Config` while a service in SERVICE_NAMES has none.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by each service's config.ts
export interface ServiceConfigs {}

/** The whole config: the kernel's sections, and `services` with each service's own. */
export type Config = Static<typeof KernelConfigSchema> & {
  services: { [Name in ServiceName]: ServiceConfigs[Name] };
};
export type ServiceConfig = Config['services'][ServiceName];
export type ExtraProcessConfig = Static<typeof ExtraProcess>;

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const CONFIG_FILE = 'tradingsystem.config.json';
export const ENV_PREFIX = 'TRADINGSYSTEM__';

/** A service's section of the config (`services.<name>`), from the service's own `config.ts`. */
export interface ServiceConfigSection {
  schema: TObject;
  /**
   * After validation: what the schema cannot say, e.g. resolving a path or checking the section
   * against another one (a ConfigError naming the key).
   */
  settle?(config: Config, cwd: string): void;
}

interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * The one config of the system, composed of the kernel's sections and each service's, with the
 * loader for it: `src/config.ts` composes it from the services' sections, and everything that
 * loads config loads it from there.
 */
export function composeConfig(services: Record<ServiceName, ServiceConfigSection>) {
  const schema = Type.Object(
    {
      ...PROCESS_SECTIONS,
      services: Type.Object(
        Object.fromEntries(SERVICE_NAMES.map((name) => [name, services[name].schema])),
        section,
      ),
      ...OPERATIONS_SECTIONS,
    },
    { additionalProperties: false },
  );
  const validate = createAjv({ useDefaults: true, coerceTypes: false }).compile(schema);

  /**
   * Loads the one validated config: defaults < `tradingsystem.config.json` (or `TRADINGSYSTEM_CONFIG`)
   * < environment. Nested keys are set from the environment as `TRADINGSYSTEM__SERVICES__GATEWAY__PORT=8080`
   * (segments match keys ignoring case, `-` and `_`: `BODY_LIMIT_BYTES` is `bodyLimitBytes`); values are JSON when they parse
   * as JSON, text otherwise. Any bad value throws a ConfigError naming the key.
   */
  function loadConfig({ env = process.env, cwd = process.cwd() }: LoadOptions = {}): Config {
    const raw = readConfigFile(env, cwd);
    applyEnvOverrides(raw, env, schema);
    raw.home = path.resolve(
      cwd,
      env.TRADINGSYSTEM_HOME ?? (typeof raw.home === 'string' ? raw.home : './data'),
    );

    if (!validate(raw)) {
      const first = validate.errors?.[0];
      const { field, message } = first ? describe(first) : { field: '(root)', message: 'invalid config' };
      throw new ConfigError(field, `invalid config: ${message}`);
    }
    const config = raw as unknown as Config;
    config.deploy.dir = path.resolve(cwd, config.deploy.dir);
    checkTimeZone(config.timezone);
    checkPorts(config);
    checkTrustedProxies(config);
    checkNotify(config);
    checkHttp(config);
    for (const name of SERVICE_NAMES) services[name].settle?.(config, cwd);
    return config;
  }

  return { schema, loadConfig };
}

function checkTimeZone(timezone: string): void {
  try {
    assertTimeZone(timezone);
  } catch {
    throw new ConfigError('timezone', `invalid config: timezone '${timezone}' is not a known time zone`);
  }
  // Intraday bars are cut on UTC hours (domain/bars.ts): local hours only in a whole-hour zone.
  if (!isWholeHourZone(timezone)) {
    throw new ConfigError(
      'timezone',
      `invalid config: timezone '${timezone}' is not a whole number of hours from UTC, which intraday bars need`,
    );
  }
}

/** The config file in use: `TRADINGSYSTEM_CONFIG`, or `tradingsystem.config.json` in the working directory. */
export function configFilePath({ env = process.env, cwd = process.cwd() }: LoadOptions = {}): string {
  return path.resolve(cwd, env.TRADINGSYSTEM_CONFIG ?? CONFIG_FILE);
}

function readConfigFile(env: NodeJS.ProcessEnv, cwd: string): Record<string, unknown> {
  const explicit = env.TRADINGSYSTEM_CONFIG;
  const file = configFilePath({ env, cwd });
  if (!existsSync(file)) {
    if (explicit)
      throw new ConfigError(
        'TRADINGSYSTEM_CONFIG',
        `config file ${file} (TRADINGSYSTEM_CONFIG) does not exist`,
      );
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(file, `config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(file, `config file ${file} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function applyEnvOverrides(target: Record<string, unknown>, env: NodeJS.ProcessEnv, root: TSchema): void {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    let schema: TSchema | undefined = root;
    let node = target;
    const keys: string[] = [];
    for (const [i, segment] of segments.entries()) {
      const properties: Record<string, TSchema> =
        (schema as { properties?: Record<string, TSchema> }).properties ?? {};
      const key = Object.keys(properties).find((k) => normalizeKey(k) === normalizeKey(segment));
      if (!key)
        throw new ConfigError(
          name,
          `invalid config: ${name} names no config key (${[...keys, segment].join('.')})`,
        );
      keys.push(key);
      schema = properties[key];
      if (i === segments.length - 1) {
        node[key] = parseEnvValue(value);
      } else {
        if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
        node = node[key] as Record<string, unknown>;
      }
    }
  }
}

/** `bodyLimitBytes`, `BODY_LIMIT_BYTES` and `body-limit-bytes` name the same key. */
const normalizeKey = (k: string) => k.replace(/[-_]/g, '').toUpperCase();

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Every service section with `trustedProxies`: each entry an address or CIDR the parser takes. */
function checkTrustedProxies(config: Config): void {
  for (const [name, service] of Object.entries(config.services)) {
    if (!('trustedProxies' in service)) continue;
    try {
      void new AddressList(service.trustedProxies);
    } catch (err) {
      const key = `services.${name}.trustedProxies`;
      throw new ConfigError(key, `invalid config: ${key}: ${(err as Error).message}`);
    }
  }
}

function checkPorts(config: Config): void {
  const seen = new Map<string, string>();
  const all: [string, { host: string; port: number; enabled?: boolean }][] = [
    ...Object.entries(config.services).map(
      ([name, s]) => [`services.${name}.port`, s] as [string, ServiceConfig],
    ),
    ...config.supervisor.extra.map(
      (p, i) => [`supervisor.extra[${i}].port`, p] as [string, ExtraProcessConfig],
    ),
    ...(config.supervisor.metricsPort > 0
      ? [
          [
            'supervisor.metricsPort',
            { host: config.supervisor.metricsHost, port: config.supervisor.metricsPort },
          ] as [string, { host: string; port: number }],
        ]
      : []),
  ];
  for (const [key, s] of all) {
    if (s.enabled === false) continue;
    const where = `${s.host}:${s.port}`;
    const other = seen.get(where);
    if (other) throw new ConfigError(key, `invalid config: ${key} ${s.port} is already used by ${other}`);
    seen.set(where, key);
  }
}

/** Limits that only make sense together (Node refuses headers slower than the whole request). */
function checkHttp({ http }: Config): void {
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    throw new ConfigError(
      'http.headersTimeoutMs',
      `invalid config: http.headersTimeoutMs ${http.headersTimeoutMs} must not exceed http.requestTimeoutMs ${http.requestTimeoutMs}`,
    );
  }
}

/** A notification channel must say where its secret is: the schema cannot say "one of these two". */
function checkNotify(config: Config): void {
  const { slack, pagerduty } = config.notify.channels;
  if (slack && !slack.urlFile && !slack.urlEnv)
    throw new ConfigError(
      'notify.channels.slack',
      'invalid config: notify.channels.slack needs urlFile or urlEnv (where the webhook URL is kept)',
    );
  if (pagerduty && !pagerduty.routingKeyFile && !pagerduty.routingKeyEnv)
    throw new ConfigError(
      'notify.channels.pagerduty',
      'invalid config: notify.channels.pagerduty needs routingKeyFile or routingKeyEnv (where the routing key is kept)',
    );
}
