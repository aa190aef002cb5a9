import type { Bus } from '../../../kernel/bus.js';
import { type Config, ConfigError } from '../../../kernel/config.js';
import type { MarketPrices } from '../market-prices.js';
import type { OrderManagerTopics } from '../topics.js';
import { MomentumStrategy } from './momentum.js';
import { type RunnerDeps, StrategyRunner } from './runner.js';
import type { Strategy } from './strategy.js';

type Settings = Config['services']['order-manager'];

const FACTORIES = new Map<string, (s: Settings) => Strategy>([
  ['momentum', (s) => new MomentumStrategy(s.momentum)],
]);

/** The strategies config enables; an unknown id stops the start rather than trading without it. */
export function createStrategies(settings: Settings): Strategy[] {
  return [...new Set(settings.strategies)].map((id) => {
    const make = FACTORIES.get(id);
    if (!make) {
      throw new ConfigError(
        'services.order-manager.strategies',
        `invalid config: unknown strategy '${id}' (known: ${[...FACTORIES.keys()].join(', ')})`,
      );
    }
    return make(settings);
  });
}

/** Feeds the live trades and order changes to the strategies; nothing to do when none is enabled. */
export function attachStrategies(
  strategies: readonly Strategy[],
  d: Omit<RunnerDeps, 'strategies' | 'lastPrice'> & { prices: MarketPrices; bus: Bus<OrderManagerTopics> },
): void {
  if (strategies.length === 0) return;
  const { prices, bus, ...deps } = d;
  const runner = new StrategyRunner({ ...deps, strategies, lastPrice: prices.lastPrice });
  bus.on('market.trade', ({ trade, deliveredAt }) => runner.onTrade(trade, deliveredAt));
  bus.on('order.changed', (order) => runner.onOrderChange(order));
  d.logger.info({ event: 'order_manager.strategies', ids: strategies.map((s) => s.id) }, 'strategies on');
}
