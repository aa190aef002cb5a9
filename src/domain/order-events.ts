import type { Order, OrderEvent } from './orders.js';
import type { RiskLimits, TradingState, TradingStateCause } from './risk.js';
import type { Signal, SignalOutcome } from './signals.js';

/** One journaled command or event; `seq` is also its seq on the order-manager feed. */
export interface JournalEvent<T = unknown> {
  seq: number;
  /** Epoch ms. */
  ts: number;
  type: string;
  orderId: string | null;
  data: T;
}

export interface AuditEntry {
  id: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  result: string;
  details: Record<string, unknown> | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

/** One submitted order (or risk rejection) and the broker's answers its events hold. */
export interface OrderOutcomeRow {
  seq: number;
  ts: number;
  type: 'order.submitted' | 'risk.rejected';
  /** 1 when the broker took it: its id came back, an acknowledgement, a fill, a later state. */
  accepted: number;
  /** 1 when the broker refused it (or an operator settled it as REJECTED). */
  rejected: number;
  /** 1 when no answer came within the ack timeout. */
  timedOut: number;
}

/** What the order manager journals; `data` of each journal event type. */
export interface EventData {
  'order.submitted': { order: Order };
  'order.sent': { brokerOrderId: string };
  'order.event': { event: OrderEvent };
  'risk.rejected': { clientOrderId: string; symbol: string; code: string; message: string };
  'risk.limits': { limits: RiskLimits };
  /** `cause` is absent in older journals (see `causeOf`). */
  'risk.state': { state: TradingState; reason: string; cause?: TradingStateCause };
  /** `cancelAll` (absent in older journals) also keeps cancelling orders found working later. */
  'risk.kill_switch': { active: boolean; reason: string; cancelAll?: boolean };
  'signal.received': { signal: Signal };
  'signal.decided': SignalOutcome;
}
export type EventType = keyof EventData;

/** A journal event whose `data` matches its `type`: switch on `type` and `data` is typed. */
export type OrderManagerEvent = { [T in EventType]: JournalEvent<EventData[T]> & { type: T } }[EventType];
