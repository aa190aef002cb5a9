import type { CapturedEvent } from '../../domain/market-data.js';
import type { OrderManagerEvent } from '../../domain/order-events.js';
import { KEYS_FILE_SHOWN_AS, KeyStore } from '../../kernel/auth/keys.js';
import { TokenSigner } from '../../kernel/auth/tokens.js';
import { AddressList, clientIp } from '../../kernel/client-ip.js';
import { IMPLEMENTED_SERVICES } from '../../kernel/config.js';
import { UnusableFileError } from '../../kernel/durable-file.js';
import { CODE } from '../../kernel/errors.js';
import { FEED_PATHS } from '../../kernel/feed/paths.js';
import { internalHeadersOf } from '../../kernel/internal-auth.js';
import type { App, ServiceDefinition } from '../../kernel/service.js';
import { DATA_FILE_RUNBOOK, reportUnusable } from '../../kernel/unusable.js';
import { streamAuthenticator } from './auth.js';
import { allChannels } from './channels.js';
import { HealthPoller } from './health.js';
import { Hub } from './hub.js';
import { CursorFile, Input } from './inputs.js';
import { MarketChannels } from './market.js';
import { createStreamMetrics } from './metrics.js';
import { OrderChannels } from './orders.js';

/** data-capture's and order-manager's feed paths; not imported, so this process loads neither service. */
const SAVE_CURSORS_EVERY_MS = 1_000;

/**
 * The stream hub (port 9001): WebSocket fan-out of market data (trades, quotes, live 1m bars),
 * order events, positions, risk events and service health to many clients, each with its own
 * subscriptions and a bounded queue. Inputs are data-capture's and order-manager's resumable feeds.
 */
export const streamService: ServiceDefinition = {
  name: 'stream',
  async setup(ctx) {
    const { config, logger, app } = ctx;
    const settings = config.services.stream;
    const dc = config.services['data-capture'];
    const om = config.services['order-manager'];
    const symbols = config.instruments.map((i) => i.symbol);

    const keys = KeyStore.at(config.home, () => ctx.clock.now(), logger, config.auth);
    try {
      await keys.load();
    } catch (err) {
      // No key is accepted until the file is restored (and the service restarted).
      if (!(err instanceof UnusableFileError)) throw err;
      reportUnusable(
        ctx,
        'keys',
        { file: err.file, reason: err.reason },
        {
          code: CODE.KEYS_UNAVAILABLE,
          runbook: DATA_FILE_RUNBOOK,
          shownAs: KEYS_FILE_SHOWN_AS,
          event: 'stream.keys_unusable',
        },
      );
    }
    const proxies = new AddressList(settings.trustedProxies);
    const hub = new Hub({
      channels: allChannels(symbols),
      symbols,
      logger,
      authenticate: streamAuthenticator(keys, TokenSigner.at(config.home)),
      revokedAmong: async (ids) => {
        await keys.reloadIfChanged(); // one stat a pass: a revocation is seen within a pass
        return new Set([...ids].filter((id) => !keys.recordOf(id)));
      },
      ...settings,
      clientIp: (req) => clientIp(req, proxies),
      authConcurrentPerIp: config.auth.concurrentPerIp,
      clock: ctx.clock,
    });
    const publish = (channel: string, data: unknown) => hub.publish(channel, data);

    // Cursors persist so a restart resumes both inputs where it stopped (the open bars rebuilt
    // from their first trade) instead of at the feeds' tails, which would skip what happened
    // while the stream was down.
    const cursorFile = new CursorFile(config.home);
    const cursors = await cursorFile.load(logger);
    const market = new MarketChannels(config.instruments, publish, cursors.market === undefined);
    const headers = internalHeadersOf(ctx.internalToken);
    const orders = new OrderChannels(`http://${om.host}:${om.port}/api/positions`, publish, logger, headers);
    let metrics: ReturnType<typeof createStreamMetrics> | undefined;
    const marketInput = new Input<CapturedEvent>({
      name: 'market',
      url: `ws://${dc.host}:${dc.port}${FEED_PATHS.market}`,
      from: cursors.market,
      logger,
      headers,
      onRecords: (records) => {
        market.onRecords(records);
        const newest = records[records.length - 1]?.data;
        if (newest) metrics?.marketDelay.observe(Math.max(0, Date.now() - newest.recvTs) / 1000);
      },
    });
    const ordersInput = new Input<OrderManagerEvent>({
      name: 'orders',
      url: `ws://${om.host}:${om.port}${FEED_PATHS.orders}`,
      from: cursors.orders,
      logger,
      headers,
      onRecords: (records) => orders.onRecords(records),
      onOpen: () => orders.refreshPositions(),
    });
    const inputs = [marketInput, ordersInput] as const;
    metrics = createStreamMetrics(ctx.metrics.registry, hub, inputs as unknown as Input<unknown>[]);

    const currentCursors = () => ({
      market: market.resumePoint() ?? marketInput.lastSeq,
      orders: ordersInput.lastSeq,
    });
    const saver = ctx.clock
      .every(SAVE_CURSORS_EVERY_MS, () => void cursorFile.save(currentCursors()))
      .unref();

    const probes = IMPLEMENTED_SERVICES.filter((n) => n !== 'stream' && config.services[n].enabled).map(
      (name) => ({
        name,
        url: `http://${config.services[name].host}:${config.services[name].port}/health`,
      }),
    );
    const health = new HealthPoller(probes, settings.healthIntervalMs, publish, ctx.clock);

    hub.attach(app, settings.path);
    // Dashboards and scripts connect here with their own key or token.
    ctx.clientPath(settings.path);
    for (const input of inputs) {
      ctx.addHealthCheck(`${input.name}Feed`, () =>
        input.connected
          ? { status: 'ok', lastSeq: input.lastSeq ?? null, lag: input.behind }
          : { status: 'degraded', detail: `${input.name} feed not connected`, url: input.status().url },
      );
    }
    await app.register(
      async (api: App) => {
        api.get('/status', async () => ({
          clients: hub.stats(),
          subscriptions: hub.subscriptionCount,
          counters: hub.counters,
          inputs: Object.fromEntries(inputs.map((i) => [i.name, i.status()])),
          cursors: currentCursors(),
          lateTrades: market.lateTrades,
        }));
      },
      { prefix: '/api' },
    );

    ctx.lifecycle.add({
      name: 'inputs',
      start: () => {
        for (const input of inputs) input.start();
      },
      stop: async () => {
        ctx.clock.cancel(saver);
        await Promise.all(inputs.map((i) => i.stop()));
        await cursorFile.save(currentCursors());
      },
    });
    ctx.lifecycle.add({ name: 'service-health', start: () => health.start(), stop: () => health.stop() });
  },
};
