import type { Order } from '../../domain/orders.js';
import type { RiskRejection } from '../../domain/risk.js';
import { fail, notFound } from '../../kernel/errors.js';
import type { CancelResult, LimitsResult, ModifyResult, SettleResult, SubmitResult } from './results.js';

// The one place the engine's results become HTTP answers: the routes return what these give and
// the service base turns what they throw into the error envelope.

/** A new order is 201, the same clientOrderId again 200 with the order it made. */
export function submitted(r: SubmitResult): { status: 200 | 201; order: Order } {
  switch (r.kind) {
    case 'accepted':
      return { status: 201, order: r.order };
    case 'duplicate':
      return { status: 200, order: r.order };
    case 'denied':
      throw riskDenied(r.rejection);
    case 'invalid':
      throw fail[r.error.code](r.error.message, r.error.details);
  }
}

/** The order a cancel, replace or settle leaves, or why there is none. */
export function changed(r: CancelResult | ModifyResult | SettleResult): Order {
  switch (r.kind) {
    case 'cancelling':
    case 'replacing':
    case 'settled':
      return r.order;
    case 'not_found':
      throw notFound('order', r.id);
    case 'closed':
      throw fail.ORDER_CLOSED(`order ${r.order.id} is ${r.order.status}`, { status: r.order.status });
    case 'denied':
      throw riskDenied(r.rejection);
    case 'illegal':
      // 409 for a status that does not allow it, 400 for a change that is not valid (the catalogue's).
      throw fail[r.error.code](r.error.message, { status: r.order.status });
    case 'not_unknown':
      throw fail.ORDER_NOT_UNKNOWN(
        `order ${r.order.id} is ${r.order.status}; only an UNKNOWN order can be settled`,
        { status: r.order.status },
      );
  }
}

export function found(order: Order | undefined, id: string): Order {
  if (!order) throw notFound('order', id);
  return order;
}

export function limitsApplied(r: LimitsResult): void {
  if (r.kind === 'invalid') {
    throw fail.VALIDATION_ERROR(r.problems.join('; '), { field: 'limits', problems: r.problems });
  }
}

/** 422 with the risk check's code: the request was understood and refused. */
const riskDenied = (rejection: RiskRejection) => fail[rejection.code](rejection.message, rejection.details);
