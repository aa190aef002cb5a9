import Type from 'typebox';
import { FAULT_KINDS, type FaultKind } from '../../adapters/broker/sim/index.js';
import type { Gap } from '../../domain/gaps.js';
import type { Instrument } from '../../domain/instruments.js';
import { fail, notFound } from '../../kernel/errors.js';
import type { App } from '../../kernel/service.js';
import { parseInstant } from '../../kernel/validation.js';

const Ticker = Type.String({ pattern: '^[A-Z0-9]{4,12}$', description: 'B3 ticker, e.g. WINZ26, PETR4' });
/** ISO-8601 or epoch milliseconds. */
const Time = Type.String({ minLength: 1, maxLength: 40 });
export const MAX_TRADES = 10_000;
export const BAR_INTERVALS = ['1m', '5m', '15m', '1h', '1d'] as const;

export interface TradeQuery {
  ticker: string;
  from?: number;
  to?: number;
  limit: number;
  order: 'asc' | 'desc';
}
export interface BarQuery {
  ticker: string;
  interval: (typeof BAR_INTERVALS)[number];
  from?: number;
  to?: number;
  limit: number;
}

/** What the routes need from the service; each is one call into its owner. */
export interface DataCaptureApi {
  instruments: Map<string, Instrument>;
  subscriptions(): string[];
  subscribe(ticker: string): Promise<void>;
  unsubscribe(ticker: string): Promise<void>;
  trades(q: TradeQuery): Promise<unknown[]>;
  bars(q: BarQuery): Promise<unknown[]>;
  gaps(): Gap[];
  status(): object;
  sim: null | {
    truth(): object;
    faults(): object;
    inject(kind: FaultKind, durationMs?: number): void;
    clear(): void;
  };
}

export function registerRoutes(app: App, api: DataCaptureApi): void {
  const known = (ticker: string, field = 'ticker') => {
    if (!api.instruments.has(ticker)) {
      throw fail.UNKNOWN_TICKER(`${field} '${ticker}' is not a configured instrument`, {
        field,
        known: [...api.instruments.keys()],
      });
    }
  };

  app.get('/subscriptions', async () => ({
    data: api.subscriptions().map((t) => ({ ticker: t, exchange: api.instruments.get(t)?.exchange ?? null })),
  }));

  app.post(
    '/subscriptions',
    { schema: { body: Type.Object({ ticker: Ticker }, { additionalProperties: false }) } },
    async (req, reply) => {
      known(req.body.ticker);
      const already = api.subscriptions().includes(req.body.ticker);
      await api.subscribe(req.body.ticker);
      reply.status(already ? 200 : 201);
      return { data: { ticker: req.body.ticker, subscribed: true } };
    },
  );

  app.delete(
    '/subscriptions/:ticker',
    { schema: { params: Type.Object({ ticker: Ticker }) } },
    async (req) => {
      if (!api.subscriptions().includes(req.params.ticker)) throw notFound('subscription', req.params.ticker);
      await api.unsubscribe(req.params.ticker);
      return { data: { ticker: req.params.ticker, subscribed: false } };
    },
  );

  app.get(
    '/trades',
    {
      schema: {
        querystring: Type.Object(
          {
            ticker: Ticker,
            from: Type.Optional(Time),
            to: Type.Optional(Time),
            limit: Type.Integer({ minimum: 1, maximum: MAX_TRADES, default: 1_000 }),
            order: Type.Enum(['asc', 'desc'], { default: 'asc' }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const { ticker, limit, order } = req.query;
      known(ticker);
      const { from, to } = timeRange(req.query.from, req.query.to);
      const data = await api.trades({ ticker, from, to, limit, order: order as 'asc' | 'desc' });
      return { count: data.length, data };
    },
  );

  app.get(
    '/bars',
    {
      schema: {
        querystring: Type.Object(
          {
            ticker: Ticker,
            interval: Type.Enum([...BAR_INTERVALS]),
            from: Type.Optional(Time),
            to: Type.Optional(Time),
            limit: Type.Integer({ minimum: 1, maximum: MAX_TRADES, default: 1_000 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const { ticker, limit } = req.query;
      known(ticker);
      const { from, to } = timeRange(req.query.from, req.query.to);
      const interval = req.query.interval as BarQuery['interval'];
      const data = await api.bars({ ticker, interval, from, to, limit });
      return { count: data.length, data };
    },
  );

  app.get(
    '/gaps',
    {
      schema: {
        querystring: Type.Object(
          { state: Type.Optional(Type.Enum(['open', 'filled', 'skipped'])), ticker: Type.Optional(Ticker) },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const data = api
        .gaps()
        .filter(
          (g) =>
            (!req.query.state || g.state === req.query.state) &&
            (!req.query.ticker || g.ticker === req.query.ticker),
        )
        .map(({ missing, ...g }) => ({
          ...g,
          missing: missing.length > 20 ? `${missing.length} ranges` : missing,
        }));
      return { count: data.length, open: data.filter((g) => g.state === 'open').length, data };
    },
  );

  app.get('/status', async () => api.status());

  const sim = () => {
    if (!api.sim) throw fail.NOT_SIMULATED();
    return api.sim;
  };
  app.get('/sim/truth', async () => sim().truth());
  app.get('/sim/faults', async () => sim().faults());
  app.post(
    '/sim/faults',
    {
      schema: {
        body: Type.Object(
          {
            kind: Type.Enum([...FAULT_KINDS]),
            durationMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      sim().inject(req.body.kind as FaultKind, req.body.durationMs);
      reply.status(202);
      return sim().faults();
    },
  );
  app.delete('/sim/faults', async () => {
    sim().clear();
    return sim().faults();
  });
}

/** Parses `from`/`to` (ISO-8601 or epoch ms) and checks from <= to, naming the field at fault. */
export function timeRange(fromText?: string, toText?: string): { from?: number; to?: number } {
  const from = fromText === undefined ? undefined : parseInstant('from', fromText);
  const to = toText === undefined ? undefined : parseInstant('to', toText);
  if (from !== undefined && to !== undefined && from > to) {
    throw fail.VALIDATION_ERROR(`from (${fromText}) is after to (${toText})`, { field: 'from' });
  }
  return { from, to };
}
