import type { Order, OrderError, OrderShapeError } from '../../domain/orders.js';
import type { RiskRejection } from '../../domain/risk.js';

/**
 * What the engine's commands answer: plain data, so the HTTP routes, strategies and signals each
 * decide what an outcome means to them (only `http.ts` turns them into statuses).
 */
export type SubmitResult =
  | { kind: 'accepted'; order: Order }
  /** The clientOrderId was seen before: the order it made, unchanged. */
  | { kind: 'duplicate'; order: Order }
  /** The risk engine refused it; the refusal is journaled (`risk.rejected`). */
  | { kind: 'denied'; rejection: RiskRejection }
  | { kind: 'invalid'; error: OrderShapeError };

export type CancelResult =
  /** A cancel was asked for (or the order was already cancelled or being cancelled). */
  { kind: 'cancelling'; order: Order } | { kind: 'closed'; order: Order } | { kind: 'not_found'; id: string };

export type ModifyResult =
  | { kind: 'replacing'; order: Order }
  | { kind: 'denied'; rejection: RiskRejection }
  /** The state machine refuses the change (a closed order, a replace already out, a bad quantity). */
  | { kind: 'illegal'; order: Order; error: OrderError }
  | { kind: 'not_found'; id: string };

export type SettleResult =
  | { kind: 'settled'; order: Order }
  | { kind: 'not_unknown'; order: Order }
  | { kind: 'not_found'; id: string };

export type LimitsResult = { kind: 'applied' } | { kind: 'invalid'; problems: string[] };
