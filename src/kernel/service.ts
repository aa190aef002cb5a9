import { randomBytes, randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
  type RouteShorthandOptions,
} from 'fastify';
import type { Histogram } from 'prom-client';
import { type Clock, systemClock } from './clock.js';
import { type Config, ConfigError } from './config.js';
import { diskHealth, diskState, registerDiskMetrics } from './disk.js';
import { AppError, CODE, type ErrorEnvelope, fail } from './errors.js';
import { addUpgradeGuard } from './feed/upgrade.js';
import {
  INTERNAL_TOKEN_ENV,
  internalToken,
  issueInternalToken,
  RequestGuard,
  secureHome,
} from './internal-auth.js';
import { Lifecycle } from './lifecycle.js';
import {
  clientRequestId,
  createLogger,
  LineSampler,
  type Logger,
  lazyChildLogger,
  logUrl,
  truncateUrl,
} from './logger.js';
import { createMetrics, type ServiceMetrics } from './metrics.js';
import { SHUTDOWN_MESSAGE } from './platform.js';
import { compileRequestValidator, describe, MAX_JSON_DEPTH, tooDeep } from './validation.js';

export type HealthStatus = 'ok' | 'degraded' | 'down';
export interface HealthCheckResult {
  status: HealthStatus;
  detail?: string;
  [extra: string]: unknown;
}
export type HealthCheck = () => HealthCheckResult | Promise<HealthCheckResult>;

/** The routes every service has from the base. */
export type BaseRoute = '/health' | '/metrics';
/** Route hooks a service adds to a base route, e.g. the gateway's guard on who may read it. */
export type BaseRouteHooks = Pick<RouteShorthandOptions, 'onRequest' | 'preSerialization'>;

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  TypeBoxTypeProvider
>;

/** What a service's setup receives: everything shared, created once by the base. */
export interface ServiceContext {
  name: string;
  config: Config;
  logger: Logger;
  metrics: ServiceMetrics;
  clock: Clock;
  app: App;
  addHealthCheck(name: string, check: HealthCheck): void;
  /** Hooks of the base's own route (registered after setup): they apply to that route only. */
  hookBaseRoute(route: BaseRoute, hooks: BaseRouteHooks): void;
  /**
   * The service's components: started in order once the server is ready, stopped in reverse
   * after the HTTP server stops taking requests.
   */
  lifecycle: Lifecycle;
  /**
   * Stops this process in order so that it starts afresh: the supervisor restarts it (a foreground
   * run just stops). For a state only a new start can leave, e.g. a journal that could not be
   * opened at start and now can.
   */
  restart(reason: string): void;
  /** The internal credential this service requires and presents to the others (undefined: auth off). */
  internalToken: string | undefined;
  /**
   * Marks a path outside clients reach with their own credential (the stream's WebSocket): no
   * internal credential, and the gateway's pages may open it from a browser.
   */
  clientPath(path: string): void;
}

export interface ServiceDefinition {
  name: string;
  /** Fastify's `trustProxy`: which peers may name the client in X-Forwarded-For (default: none). */
  trustProxy?(config: Config): (address: string) => boolean;
  /** The gateway: its routes have their own auth; it answers to its configured hosts and origins. */
  frontDoor?: boolean;
  setup(ctx: ServiceContext): void | Promise<void>;
}

export interface BuildOptions {
  config: Config;
  logger?: Logger;
  clock?: Clock;
  console?: boolean;
  /** The internal credential; default: the supervisor's (environment) or the home's token file, if any. */
  internalToken?: string;
}

const HEALTH_CHECK_TIMEOUT_MS = 2_000;
/** A service that asks to be started afresh exits with this (EX_TEMPFAIL); the supervisor restarts it. */
export const EXIT_RESTART = 75;
const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, down: 2 };

/**
 * The service base every service is built on: Fastify with the error envelope, schema validation
 * (strict bodies, coerced query strings), request ids, body limits, `GET /health`, `GET /metrics`
 * and the lifecycle of its components.
 */
export async function buildService(def: ServiceDefinition, opts: BuildOptions): Promise<ServiceContext> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  const logger =
    opts.logger ??
    createLogger({
      service: def.name,
      home: config.home,
      timeZone: config.timezone,
      level: config.log.level,
      console: opts.console ?? false,
      clock,
    }).logger;
  const metrics = createMetrics();

  const app = Fastify({
    loggerInstance: logger,
    // The request id is always ours: a client's x-request-id is only logged apart, as clientReqId.
    childLoggerFactory: (parent, bindings, options, raw) => {
      const clientReqId = clientRequestId(raw.headers['x-request-id']);
      return lazyChildLogger(
        parent as Logger,
        clientReqId ? { ...bindings, clientReqId } : bindings,
        options,
      );
    },
    bodyLimit: config.http.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    trustProxy: def.trustProxy?.(config) ?? false,
    // Our onResponse hook logs one line per request, with the level chosen by status.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    // Slow-loris defence, one place for every service: headers and the whole request must arrive
    // in time (408), idle sockets close, and Node checks those deadlines every second, not every 30 s.
    connectionTimeout: config.http.idleTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      headersTimeout: config.http.headersTimeoutMs,
      requestTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, config.http.headersTimeoutMs),
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A URL the router refuses (bad percent-encoding, a path parameter too long) gets the one
    // error envelope too, naming the part at fault.
    frameworkErrors: (err, request, reply) => {
      const { status, envelope } = toEnvelope(err, request.id);
      if (err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        envelope.error.code = CODE.VALIDATION_ERROR;
        envelope.error.details = { location: 'url', field: 'url' };
      }
      (reply as FastifyReply).status(status).send(envelope);
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  // Beyond the cap Node closes a new connection at once, before it costs a parser or a request.
  app.server.maxConnections = config.http.maxConnections;

  // Who may call, before anything else runs: Host, Origin and the internal credential, for HTTP
  // requests here and for WebSocket upgrades in the upgrade dispatcher.
  const token = opts.internalToken ?? internalToken(config.home);
  const address = (config.services as Record<string, { host: string } | undefined>)[def.name];
  const guard = new RequestGuard(config, {
    token,
    frontDoor: def.frontDoor ?? false,
    ...(address && { host: address.host }),
  });
  if (guard.authOff && !def.frontDoor) {
    logger.warn(
      { event: 'service.internal_auth_off' },
      'no internal credential configured: any local caller is trusted (start it with the supervisor or `tradingsystem run`)',
    );
  }
  app.addHook('onRequest', (request, _reply, done) => {
    const q = request.url.indexOf('?');
    done(guard.check(request.raw, q < 0 ? request.url : request.url.slice(0, q)));
  });
  addUpgradeGuard(app.server, (req, pathname) => guard.check(req, pathname));

  app.setValidatorCompiler(({ schema, httpPart }) => compileRequestValidator(schema, httpPart !== 'body'));

  // Deep nesting is refused before parsing: recursive code after the parser (validation, the
  // gateway's re-serialization) would overflow the stack on it and answer 500.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const deep = tooDeep(body as string);
    if (!deep) return parseJson(request, body as string, done);
    done(
      fail.JSON_TOO_DEEP(`body: ${deep.field} nests deeper than ${MAX_JSON_DEPTH} levels`, {
        location: 'body',
        field: deep.field,
        maxDepth: MAX_JSON_DEPTH,
      }),
      undefined,
    );
  });

  // Callback hooks: an async one costs a promise per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });
  const durationOf = new Map<string, Histogram.Internal<string>>();
  const rejected = new LineSampler(config.log.rejectedLinesPerSecond, 1_000, clock, (key, suppressed) =>
    logger.info(
      { event: 'http.rejected_suppressed', key, suppressed },
      `${suppressed} more rejected request(s) not logged one by one`,
    ),
  );
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    // The labelled child is looked up once per route and status, not hashed from labels each time.
    const key = `${request.method} ${route} ${status}`;
    let duration = durationOf.get(key);
    if (!duration) {
      duration = metrics.httpDuration.labels(def.name, request.method, route, String(status));
      durationOf.set(key, duration);
    }
    duration.observe(reply.elapsedTime / 1000);
    if (status >= 400 || logger.isLevelEnabled('debug')) {
      // A flood of rejected requests is told as a count, not line by line.
      if (status >= 400 && status < 500 && !rejected.allow(`${status} ${route}`)) return done();
      const line = {
        method: request.method,
        url: logUrl(request.url, config.log.maxUrlChars),
        status,
        ms: Math.round(reply.elapsedTime * 100) / 100,
      };
      if (status >= 500) request.log.warn(line, 'request failed');
      else if (status >= 400) request.log.info(line, 'request rejected');
      else request.log.debug(line, 'request');
    }
    done();
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, envelope } = toEnvelope(err, request.id);
    if (status >= 500) request.log.error({ err }, 'unhandled error');
    reply.status(status).send(envelope);
  });
  app.setNotFoundHandler((request, reply) => {
    const notFound = fail.NOT_FOUND(
      `no route ${request.method} ${truncateUrl(request.url.split('?')[0] ?? '', config.log.maxUrlChars)}`,
    );
    reply.status(notFound.status).send(notFound.toEnvelope());
  });

  const checks = new Map<string, HealthCheck>();
  const baseRouteHooks: Record<BaseRoute, BaseRouteHooks> = { '/health': {}, '/metrics': {} };
  const lifecycle = new Lifecycle(logger);
  const startedAt = clock.now();
  // Every service watches the free space of the data home (one statfs per `disk.cacheMs`).
  checks.set('disk', async () => diskHealth(await diskState(config.home, config)));
  registerDiskMetrics(metrics.registry, config.home, config);

  app.addHook('onReady', () => lifecycle.start());
  app.addHook('onClose', () => lifecycle.stop());

  const ctx: ServiceContext = {
    name: def.name,
    config,
    logger,
    metrics,
    clock,
    app,
    addHealthCheck: (name, check) => checks.set(name, check),
    hookBaseRoute: (route, hooks) => Object.assign(baseRouteHooks[route], hooks),
    lifecycle,
    // In a process of its own (runService) this ends the process; built in-process, it only says so.
    restart: (reason) => logger.warn({ event: 'service.restart_requested', reason }, 'restart requested'),
    internalToken: token,
    clientPath: (p) => guard.addClientPath(p),
  };
  await def.setup(ctx);

  // After setup, so that the hooks a service gave them are in their route options.
  app.get('/health', baseRouteHooks['/health'], async (_request, reply) => {
    const results: Record<string, HealthCheckResult> = {};
    await Promise.all(
      [...checks].map(async ([name, check]) => {
        results[name] = await runCheck(check);
      }),
    );
    const status = Object.values(results).reduce<HealthStatus>(
      (worst, r) => (RANK[r.status] > RANK[worst] ? r.status : worst),
      'ok',
    );
    reply.status(status === 'down' ? 503 : 200);
    return {
      status,
      // Who answers: the supervisor takes a port answered by another name or pid as not its own.
      service: def.name,
      pid: process.pid,
      uptimeSeconds: Math.round((clock.now() - startedAt) / 1000),
      checks: results,
    };
  });

  app.get('/metrics', baseRouteHooks['/metrics'], async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  return ctx;
}

/** A new token in the home's file; on a disk that takes no file, one the CLI cannot read (still protected). */
function ownToken(home: string): string {
  try {
    return issueInternalToken(home);
  } catch (err) {
    process.stderr.write(`cannot write the internal token file: ${(err as Error).message}\n`);
    return randomBytes(32).toString('base64url');
  }
}

async function runCheck(check: HealthCheck): Promise<HealthCheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<HealthCheckResult>((resolve) => {
        timer = setTimeout(
          () => resolve({ status: 'down', detail: `check timed out after ${HEALTH_CHECK_TIMEOUT_MS} ms` }),
          HEALTH_CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    return { status: 'down', detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** Maps any error thrown in a request to a status and the one envelope. */
export function toEnvelope(err: unknown, requestId: string): { status: number; envelope: ErrorEnvelope } {
  if (err instanceof AppError) return answerOf(err);
  const e = err as FastifyError & { validationContext?: string };
  if (e.validation?.length) {
    const errors = e.validation.map((v) => describe(v as never));
    const first = errors[0] ?? { field: '(root)', message: 'invalid request' };
    return answerOf(
      fail.VALIDATION_ERROR(`${e.validationContext ?? 'request'}: ${first.message}`, {
        location: e.validationContext,
        field: first.field,
        errors,
      }),
    );
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 500) return answerOf(fail.INTERNAL_ERROR({ requestId }));
  // Fastify's own refusals keep the status and message Fastify gave them.
  const code =
    e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
      ? CODE.PAYLOAD_TOO_LARGE
      : e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? CODE.UNSUPPORTED_MEDIA_TYPE
        : e instanceof SyntaxError ||
            e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
            e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
          ? CODE.INVALID_JSON
          : CODE.BAD_REQUEST;
  return { status, envelope: { error: { code, message: e.message } } };
}

const answerOf = (err: AppError) => ({ status: err.status, envelope: err.toEnvelope() });

/**
 * Runs one service as this process: loads and validates config with `loadConfig` (the system's,
 * from src/config.ts; a bad value exits 2 naming the key), listens on the configured address, and
 * shuts down in order on SIGTERM/SIGINT or when the supervisor that started it goes away.
 */
export async function runService(
  def: ServiceDefinition,
  loadConfig: () => Config,
  opts: { console?: boolean } = {},
): Promise<ServiceContext> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${def.name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const address = config.services[def.name as keyof Config['services']];
  if (!address) throw new Error(`no service named ${def.name} in config.services`);
  // A service of its own is always protected: the supervisor's credential, else the home's token
  // file, else a new one there (the CLI reads it from the file).
  secureHome(config.home);
  const token = internalToken(config.home) ?? ownToken(config.home);
  process.env[INTERNAL_TOKEN_ENV] = token;
  const ctx = await buildService(def, {
    config,
    console: opts.console ?? !process.env.TRADINGSYSTEM_SUPERVISED,
    internalToken: token,
  });
  const { app, logger } = ctx;

  let stopping = false;
  const shutdown = async (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ timeoutMs: config.http.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, config.http.shutdownTimeoutMs);
    force.unref();
    await app.close();
    logger.info('stopped');
    process.exit(code);
  };
  ctx.restart = (reason) => {
    logger.warn({ event: 'service.restart', reason }, 'stopping to start afresh');
    void shutdown(reason, EXIT_RESTART);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  // Where there are no signals between processes (Windows), the supervisor asks on the IPC channel.
  process.on('message', (message) => {
    if ((message as { type?: unknown } | null)?.type === SHUTDOWN_MESSAGE.type)
      void shutdown('supervisor stop');
  });
  // Started by the supervisor over an IPC channel: when the supervisor dies, so do we.
  process.once('disconnect', () => void shutdown('supervisor gone'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });

  try {
    await app.listen({ host: address.host, port: address.port });
  } catch (err) {
    logger.fatal({ err, host: address.host, port: address.port }, 'cannot listen');
    process.exit(1);
  }
  logger.info({ host: address.host, port: address.port }, 'listening');
  return ctx;
}
