import Type from 'typebox';
import type { HistogramData, OrderOutcomes } from '../../domain/slo.js';
import { fail } from '../../kernel/errors.js';
import type { Histogram } from '../../kernel/metrics.js';
import type { App } from '../../kernel/service.js';
import { parseInstant } from '../../kernel/validation.js';
import type { OrderQueries } from '../../ports/order-store.js';
import type { OrderManagerMetrics } from './metrics.js';

/** Orders read per turn of the event loop: the order path never waits behind a long window. */
const CHUNK = 500;
/** ISO-8601 or epoch milliseconds. */
const Time = Type.String({ minLength: 1, maxLength: 40 });
export const SloQuery = Type.Object({ from: Time, to: Time }, { additionalProperties: false });

const timeOf = parseInstant;

/**
 * What the SLO report needs from the order manager: the outcomes of the orders sent in a window,
 * from the journal, and its two order-latency histograms (since this process started).
 */
export function registerSloRoutes(
  app: App,
  journal: OrderQueries,
  metrics: OrderManagerMetrics,
  startedAt: number,
): void {
  app.get('/slo', { schema: { querystring: SloQuery } }, async (req) => {
    const from = timeOf('from', req.query.from);
    const to = timeOf('to', req.query.to);
    if (to <= from) throw fail.VALIDATION_ERROR('to must be after from', { field: 'to' });
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      orders: await outcomes(journal, from, to),
      latency: {
        since: new Date(startedAt).toISOString(),
        tickToOrder: await histogram(metrics.tickToOrderSeconds),
        apiOrderAck: await histogram(metrics.apiOrderAckSeconds),
      },
    };
  });
}

export async function outcomes(journal: OrderQueries, from: number, to: number): Promise<OrderOutcomes> {
  const o: OrderOutcomes = {
    sent: 0,
    succeeded: 0,
    brokerRejected: 0,
    unanswered: 0,
    pending: 0,
    riskRejected: 0,
  };
  let seq = journal.firstSeqAt(from);
  const end = journal.firstSeqAt(to);
  while (seq < end) {
    const rows = journal.orderOutcomes(seq, end, CHUNK);
    if (rows.length === 0) break;
    for (const r of rows) {
      if (r.ts < from || r.ts >= to) continue; // a clock step back can put one just outside
      if (r.type === 'risk.rejected') o.riskRejected += 1;
      else {
        o.sent += 1;
        if (r.rejected) o.brokerRejected += 1;
        else if (r.accepted) o.succeeded += 1;
        else if (r.timedOut) o.unanswered += 1;
        else o.pending += 1;
      }
    }
    seq = (rows[rows.length - 1]?.seq ?? end) + 1;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return o;
}

async function histogram(h: Histogram): Promise<HistogramData> {
  const { values } = await h.get();
  const buckets: HistogramData['buckets'] = [];
  let count = 0;
  let sum = 0;
  for (const v of values) {
    if (v.metricName?.endsWith('_bucket')) {
      const le = v.labels.le;
      buckets.push({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count: v.value });
    } else if (v.metricName?.endsWith('_count')) count = v.value;
    else if (v.metricName?.endsWith('_sum')) sum = v.value;
  }
  return { buckets, count, sum };
}
