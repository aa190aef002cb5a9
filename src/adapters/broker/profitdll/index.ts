import { marketSessions, minuteOfDay } from '../../../domain/slo.js';
import type { Config } from '../../../kernel/config.js';
import type { Logger } from '../../../kernel/logger.js';
import type { Registry } from '../../../kernel/metrics.js';
import { readCredentials } from './credentials.js';
import { ExchangeClock } from './dates.js';
import { ProfitDllExecution } from './execution.js';
import { ProfitDllMarketData } from './market-data.js';
import { createProfitDllMetrics } from './metrics.js';
import { ProfitDllSession } from './session.js';

export interface ProfitDllBrokerOptions {
  logger?: Logger;
  registry?: Registry;
  /** Where the routing side keeps which of the DLL's orders are ours (the order manager's data). */
  orderLinksFile?: string;
}

/** Mon-Fri outside B3's holidays, between an instrument's session open and close (exchange time). */
export function b3MarketOpen(config: Config) {
  const hours = new Map(
    config.instruments.map((i) => [
      i.symbol,
      {
        timeZone: config.timezone,
        openMinute: minuteOfDay(i.sessionOpen),
        closeMinute: minuteOfDay(i.sessionClose),
        tradingDays: [1, 2, 3, 4, 5],
        b3Holidays: true,
        holidays: [],
      },
    ]),
  );
  return (symbol: string, now: number): boolean => {
    const h = hours.get(symbol);
    return h !== undefined && marketSessions(h, now, now + 1).length > 0;
  };
}

/** One ProfitDLL login for this process, with its market-data and routing sides. */
export function createProfitDllBroker(config: Config, opts: ProfitDllBrokerOptions = {}) {
  const settings = config.profitdll;
  const exchangeClock = new ExchangeClock(config.timezone);
  const logger = opts.logger ?? null;
  const metrics = opts.registry ? createProfitDllMetrics(opts.registry) : null;
  const session = new ProfitDllSession({
    library: settings.library,
    credentials: (routing) => readCredentials(settings.credentialsFile, routing),
    exchangeClock,
    logger,
    metrics,
    finalizeTimeoutMs: settings.finalizeTimeoutMs,
  });
  const marketData = new ProfitDllMarketData(session, {
    exchangeClock,
    historyTimeoutMs: settings.historyTimeoutMs,
    logger,
    metrics,
  });
  const execution = new ProfitDllExecution(session, {
    exchangeClock,
    brokerId: settings.brokerId,
    routingPassword: () => readCredentials(settings.credentialsFile, true).routingPassword ?? '',
    instruments: config.instruments,
    linksFile: opts.orderLinksFile ?? null,
    logger,
  });
  return { session, marketData, execution, marketOpen: b3MarketOpen(config) };
}
