import path from 'node:path';
import { type Broker, type BrokerOptions, createBroker } from '../../adapters/broker/factory.js';
import { OrderJournal } from '../../adapters/storage/order-journal.js';
import type { JournalEvent } from '../../domain/order-events.js';
import { positionSnapshot, sessionKeyAt, startSession } from '../../domain/positions.js';
import { Bus } from '../../kernel/bus.js';
import type { Clock } from '../../kernel/clock.js';
import type { Config } from '../../kernel/config.js';
import { DiskRefusedError, UnusableFileError } from '../../kernel/durable-file.js';
import { CODE, fail } from '../../kernel/errors.js';
import { FeedServer } from '../../kernel/feed/index.js';
import { FEED_PATHS } from '../../kernel/feed/paths.js';
import { internalHeadersOf } from '../../kernel/internal-auth.js';
import type { App, ServiceContext, ServiceDefinition } from '../../kernel/service.js';
import { DATA_FILE_RUNBOOK, refuseEveryRequest, reportUnusable } from '../../kernel/unusable.js';
import { OrderEngine } from './engine.js';
import { MarketPrices } from './market-prices.js';
import { createOrderManagerMetrics } from './metrics.js';
import { emptyState } from './projection.js';
import { Reconciler } from './reconcile.js';
import { RiskControls } from './risk-controls.js';
import { registerRiskRoutes } from './risk-routes.js';
import { registerOrderRoutes, registerReconcileRoutes } from './routes.js';
import { registerSignalRoutes, SignalRouter } from './signals.js';
import { registerSloRoutes } from './slo-routes.js';
import { attachStrategies, createStrategies } from './strategies/index.js';
import type { Strategy } from './strategies/strategy.js';
import type { OrderManagerTopics } from './topics.js';

/** UNKNOWN orders are re-checked, and a dropped routing reconnected, this often. */
const POLL_EVERY_MS = 1_000;
/** Order events kept in memory for the order feed (the SQLite journal serves older ones). */
export const ORDER_FEED_RING = 4_096;

/**
 * The order manager (port 5055): orders through the pre-trade risk engine to the broker, fills into
 * positions and P&L, all of it journaled in SQLite before it is acknowledged and rebuilt from the
 * journal at start, with an audit trail and a resumable event feed.
 */
export type BrokerFactory = (config: Config, clock: Clock, opts: BrokerOptions) => Broker;

export interface OrderManagerOptions {
  /** Tests wrap the broker (a connection that loses news); the default is `createBroker`. */
  broker?: BrokerFactory;
}

export const createOrderManagerService = (opts: OrderManagerOptions = {}): ServiceDefinition => ({
  name: 'order-manager',
  async setup(ctx) {
    // Before anything opens: a config naming an unknown strategy stops the start.
    const strategies = createStrategies(ctx.config.services['order-manager']);
    let journal: OrderJournal;
    try {
      journal = OrderJournal.open(ctx.config.home);
    } catch (err) {
      if (!(err instanceof UnusableFileError)) throw err;
      serveJournalDown(ctx, err);
      // A disk that refused it (read-only, full) may take it later: then start afresh with it.
      if (err instanceof DiskRefusedError) retryJournal(ctx);
      return;
    }
    ctx.lifecycle.add({ name: 'journal', stop: () => journal.close() });
    wire(ctx, journal, strategies, opts.broker ?? defaultBroker);
  },
});

const defaultBroker: BrokerFactory = createBroker;

export const orderManagerService = createOrderManagerService();

/** A journal that cannot be opened is never recreated: the service stays up, reports down, serves nothing. */
function serveJournalDown(ctx: ServiceContext, err: UnusableFileError): void {
  const refusal = reportUnusable(
    ctx,
    'journal',
    { file: err.file, reason: err.message },
    {
      code: CODE.JOURNAL_UNAVAILABLE,
      runbook: DATA_FILE_RUNBOOK,
      event: 'order_manager.journal_unavailable',
    },
  );
  // The API plugin without its routes: every /api request is answered with the refusal.
  void ctx.app.register(async (api: App) => refuseEveryRequest(api, refusal), { prefix: '/api' });
}

const JOURNAL_RETRY_MS = 5_000;
/** How to replace journaled risk limits that cannot be traded on. */
export const RISK_LIMITS_RUNBOOK = 'runbooks/risk-limits-invalid';

/** Tries the journal again every few seconds; once it opens, the service restarts to take it up. */
function retryJournal(ctx: ServiceContext): void {
  const { clock } = ctx;
  const timer = clock.every(JOURNAL_RETRY_MS, () => {
    let journal: OrderJournal;
    try {
      journal = OrderJournal.open(ctx.config.home);
    } catch {
      return;
    }
    clock.cancel(timer);
    void journal.close().then(() => ctx.restart('the order journal can be opened again'));
  });
  timer.unref();
  ctx.lifecycle.add({ name: 'journal-retry', stop: () => clock.cancel(timer) });
}

function wire(
  ctx: ServiceContext,
  journal: OrderJournal,
  strategies: readonly Strategy[],
  makeBroker: BrokerFactory,
): void {
  const { config, clock, logger, app } = ctx;
  const settings = config.services['order-manager'];
  const dc = config.services['data-capture'];
  const instruments = new Map(config.instruments.map((i) => [i.symbol, i]));
  // One threshold: it decides which signals become orders and seeds the risk floor of a fresh journal.
  const state = emptyState(settings.enforceTradingHours, settings.signalConfidenceThreshold);
  const bus = new Bus<OrderManagerTopics>((topic, err) =>
    logger.error(
      { event: 'order_manager.handler_failed', topic, err: (err as Error).message },
      'a handler of the order manager bus failed; the others ran',
    ),
  );
  const prices = new MarketPrices(
    `ws://${dc.host}:${dc.port}${FEED_PATHS.market}`,
    logger,
    bus,
    internalHeadersOf(ctx.internalToken),
  );
  // The simulated venue keeps its orders and fills on disk: it outlives our restarts, as a broker does.
  const broker = makeBroker(config, clock, {
    venueFile: path.join(config.home, 'sim', 'venue.sqlite'),
    orderLinksFile: path.join(config.home, 'db', 'profitdll-orders.jsonl'),
    logger,
    registry: ctx.metrics.registry,
  });

  const feed = new FeedServer<JournalEvent>({
    name: 'orders',
    history: journal,
    logger,
    registry: ctx.metrics.registry,
    // The ring only spares a resuming consumer a journal read. At the default 65,536 records
    // (~530 bytes each) it filled over a day or more of trading, ~1 MB an hour, to ~35 MB.
    ringSize: ORDER_FEED_RING,
  });
  const metrics = createOrderManagerMetrics(ctx.metrics.registry, {
    openOrders: () => state.open.size,
    killSwitch: () => state.killSwitch.active,
    reconciling: () => engine.reconciling,
    tradingState: () => engine.state.tradingState,
    positions: () => {
      const session = sessionKeyAt(clock.now(), config.timezone);
      return [...engine.state.positions.values()].map((p) =>
        positionSnapshot(startSession(p, session), prices.lastPrice(p.symbol)),
      );
    },
  });
  const engine = new OrderEngine({
    journal,
    broker: broker.execution,
    instruments,
    state,
    account: settings.account,
    ackTimeoutMs: settings.ackTimeoutMs,
    closedOrdersInMemory: settings.closedOrdersInMemory,
    timeZone: config.timezone,
    clock,
    logger,
    metrics,
    lastPrice: prices.lastPrice,
    publish: (e, json) => feed.publish({ seq: e.seq, data: e }, json),
    emptyState: () => emptyState(settings.enforceTradingHours, settings.signalConfidenceThreshold),
    bus,
  });
  const replayed = engine.rebuild();
  logger.info(
    { event: 'order_manager.rebuilt', events: replayed, orders: state.orders.size, open: state.open.size },
    'state rebuilt from the journal',
  );
  const reconciler = new Reconciler({
    engine,
    broker: broker.execution,
    account: settings.account,
    timeZone: config.timezone,
    clock,
    logger,
    metrics,
    committedSeq: () => journal.lastSeq(),
  });
  const controls = new RiskControls(engine, logger);
  bus.on('order.filled', (order) => controls.afterFill(order));
  bus.on('state.rebuilt', () => reconciler.afterFailedCommit());
  bus.on('broker.unmatched', () => reconciler.requestFull('unmatched-update'));

  let stopped = false;
  let routingDownReason: string | undefined;
  broker.execution.listenExecution({
    onEvent: (e) => {
      if (e.type !== 'routing') return;
      routingDownReason = e.connected ? undefined : e.reason;
      const level = e.reason ? 'error' : 'info';
      logger[level](
        { event: 'order_manager.routing', connected: e.connected, reason: e.reason },
        'broker routing changed',
      );
      // The first connect is the start; any later one is a reconnect: both reconcile before trading.
      if (e.connected) void reconciler.full(reconciler.lastFull ? 'reconnect' : 'start');
      engine.routingUp = e.connected;
    },
    // News after shutdown has no journal to go to; the next start reconciles it from the reports.
    onOrderUpdate: (u) => !stopped && engine.onBrokerUpdate(u),
  });

  feed.attach(app, FEED_PATHS.orders);
  const signals = new SignalRouter(
    engine,
    { autoExecute: settings.autoExecuteSignals, threshold: settings.signalConfidenceThreshold },
    metrics,
    (symbol) => instruments.get(symbol)?.lotSize ?? 1,
  );
  // The API is one plugin under /api, so its group-commit hook is its own: /health, /metrics and
  // the feed never wait on a commit.
  void app.register(
    async (api: App) => {
      // No answer leaves before the commit holding what it reports (an error included).
      api.addHook('onSend', async (_req, reply, payload) => {
        try {
          await journal.committed();
          return payload;
        } catch (err) {
          const failed = fail.JOURNAL_COMMIT_FAILED(
            `the order journal could not commit: ${(err as Error).message}`,
          );
          reply.code(failed.status).header('content-type', 'application/json; charset=utf-8');
          return JSON.stringify(failed.toEnvelope());
        }
      });
      registerOrderRoutes(api, engine);
      registerReconcileRoutes(api, reconciler);
      registerSloRoutes(api, journal, metrics, clock.now());
      registerSignalRoutes(api, signals, engine, () => clock.now());
      registerRiskRoutes(api, {
        engine,
        controls,
        journal,
        timeZone: config.timezone,
        now: () => clock.now(),
        lastPrice: prices.lastPrice,
      });
    },
    { prefix: '/api' },
  );
  attachStrategies(strategies, {
    engine,
    prices,
    bus,
    account: settings.account,
    instruments,
    clock,
    logger,
  });
  addHealthChecks(ctx, engine, prices, journal, () => routingDownReason);
  ctx.addHealthCheck('reconciliation', () => reconciler.health());

  const poll = clock
    .every(POLL_EVERY_MS, () => {
      // connect() is a no-op unless the connection is down; the routing event then reconciles.
      if (!engine.routingUp) void broker.execution.connect();
      void reconciler.pollUnknown();
    })
    .unref();

  // Started top down once the server is ready, stopped bottom up (the journal, added first, closes
  // last): no broker news, poll or timer acts once stopping begins, then the broker goes, then the
  // prices and the feed.
  const { lifecycle } = ctx;
  lifecycle.add({ name: 'feed', stop: () => feed.close() });
  lifecycle.add({ name: 'market-prices', start: () => prices.start(), stop: () => prices.stop() });
  lifecycle.add({
    name: 'broker',
    start: () => broker.execution.connect(),
    stop: () => broker.execution.disconnect(),
  });
  lifecycle.add({
    name: 'engine',
    stop: () => {
      stopped = true;
      clock.cancel(poll);
      reconciler.stop();
      engine.stop();
    },
  });
}

function addHealthChecks(
  ctx: ServiceContext,
  engine: OrderEngine,
  prices: MarketPrices,
  journal: OrderJournal,
  routingDownReason: () => string | undefined,
): void {
  ctx.addHealthCheck('journal', () => journal.health());
  ctx.addHealthCheck('broker', () => {
    if (!engine.routingUp) {
      const reason = routingDownReason();
      return { status: 'down', detail: `order routing not connected${reason ? `: ${reason}` : ''}` };
    }
    if (engine.reconciling) return { status: 'degraded', detail: 'reconciling: new orders refused' };
    return { status: 'ok' };
  });
  ctx.addHealthCheck('marketData', () =>
    prices.connected
      ? { status: 'ok' }
      : {
          status: 'degraded',
          detail: `data-capture feed not connected${prices.lastError ? `: ${prices.lastError}` : ''}`,
        },
  );
  ctx.addHealthCheck('risk', () => {
    const { killSwitch, tradingState, tradingStateReason, limitsProblem } = engine.state;
    // Limits that cannot be traded on refuse every order: down, so the supervisor and alerts say so.
    if (limitsProblem)
      return {
        status: 'down',
        detail: limitsProblem,
        killSwitch: killSwitch.active,
        tradingState,
        runbook: RISK_LIMITS_RUNBOOK,
      };
    // `killSwitch` is what the supervisor's notifications go by.
    if (killSwitch.active)
      return {
        status: 'degraded',
        detail: `kill switch active: ${killSwitch.reason}`,
        killSwitch: true,
        tradingState,
      };
    if (tradingState !== 'ACTIVE') {
      return {
        status: 'degraded',
        detail: `trading ${tradingState}: ${tradingStateReason}`,
        killSwitch: false,
        tradingState,
      };
    }
    return { status: 'ok', killSwitch: false, tradingState };
  });
}
