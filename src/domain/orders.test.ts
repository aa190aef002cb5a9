import { describe, expect, it } from 'vitest';
import {
  applyOrderEvent,
  createOrder,
  isOpen,
  isTerminal,
  ORDER_EVENT_TYPES,
  ORDER_STATUSES,
  ORDER_TRANSITIONS,
  type Order,
  type OrderEvent,
  type OrderEventType,
  type OrderResult,
  type OrderStatus,
  orderShapeError,
} from './orders.js';

/**
 * The expected table, written by hand from the design, not from the implementation: one row per
 * status, one column per event, `-` for illegal. LIVE/RESUME/REPORTED as in TransitionTarget.
 */
const EXPECTED = `
status           accepted         rejected partially_filled filled cancel_requested canceled cancel_rejected replace_requested replaced         replace_rejected expired timed_out resolved
PENDING_NEW      ACCEPTED         REJECTED PARTIALLY_FILLED FILLED PENDING_CANCEL   CANCELED -               -                 -                -                EXPIRED UNKNOWN   -
ACCEPTED         ACCEPTED         REJECTED PARTIALLY_FILLED FILLED PENDING_CANCEL   CANCELED -               PENDING_REPLACE   ACCEPTED         -                EXPIRED UNKNOWN   -
PARTIALLY_FILLED PARTIALLY_FILLED -        PARTIALLY_FILLED FILLED PENDING_CANCEL   CANCELED -               PENDING_REPLACE   PARTIALLY_FILLED -                EXPIRED UNKNOWN   -
PENDING_CANCEL   PENDING_CANCEL   REJECTED PENDING_CANCEL   FILLED PENDING_CANCEL   CANCELED RESUME          -                 PENDING_CANCEL   PENDING_CANCEL   EXPIRED UNKNOWN   -
PENDING_REPLACE  PENDING_REPLACE  -        PENDING_REPLACE  FILLED PENDING_CANCEL   CANCELED -               -                 RESUME           RESUME           EXPIRED UNKNOWN   -
UNKNOWN          LIVE             REJECTED PARTIALLY_FILLED FILLED PENDING_CANCEL   CANCELED -               -                 LIVE             -                EXPIRED UNKNOWN   REPORTED
REJECTED         -                -        -                -      -                -        -               -                 -                -                -       -         -
FILLED           -                -        -                -      -                -        -               -                 -                -                -       -         -
CANCELED         -                -        -                -      -                -        -               -                 -                -                -       -         -
EXPIRED          -                -        -                -      -                -        -               -                 -                -                -       -         -
`;

function parseExpected(): Map<string, string> {
  const [header, ...rows] = EXPECTED.trim().split('\n');
  const events = (header ?? '').trim().split(/\s+/).slice(1);
  const table = new Map<string, string>();
  for (const row of rows) {
    const [status, ...cells] = row.trim().split(/\s+/);
    for (const [i, cell] of cells.entries()) table.set(`${status}/${events[i]}`, cell);
  }
  return table;
}

const expected = parseExpected();
const T0 = 1_750_000_000_000;

const base = createOrder(
  {
    id: 'o-1',
    clientOrderId: 'c-1',
    account: 'ACC1',
    symbol: 'WINZ26',
    side: 'BUY',
    type: 'LIMIT',
    quantity: 10,
    price: 128_000,
    timeInForce: 'DAY',
  },
  T0,
);

/** An order sitting in a status: nothing filled, except PARTIALLY_FILLED which has 4 of 10. */
function orderIn(status: OrderStatus): Order {
  if (status === 'PARTIALLY_FILLED') {
    return {
      ...base,
      status,
      filledQty: 4,
      leavesQty: 6,
      avgFillPrice: 128_000,
      fills: [{ tradeId: 't-0', qty: 4, price: 128_000, ts: T0 }],
    };
  }
  const pending = status === 'PENDING_CANCEL' || status === 'PENDING_REPLACE';
  return {
    ...base,
    status,
    ...(pending ? { resumeStatus: 'ACCEPTED' as const } : {}),
    ...(status === 'PENDING_REPLACE' ? { pendingChange: { price: 128_100 } } : {}),
  };
}

/** A representative event of each type for an order; fills partial or completing as named. */
function sampleEvent(type: OrderEventType, order: Order): OrderEvent {
  const ts = T0 + 1000;
  switch (type) {
    case 'partially_filled':
      return { type, tradeId: 't-new', qty: 1, price: 128_005, ts };
    case 'filled':
      return { type, tradeId: 't-new', qty: order.leavesQty, price: 128_005, ts };
    case 'rejected':
      return { type, ts, reason: 'no margin' };
    case 'replace_requested':
      return { type, ts, change: { price: 128_100 } };
    case 'resolved':
      return { type, ts, status: 'CANCELED' };
    default:
      return { type, ts };
  }
}

/** The status the expected cell means for the fixtures above. */
function expectedStatus(cell: string): string {
  if (cell === 'LIVE' || cell === 'RESUME') return 'ACCEPTED';
  if (cell === 'REPORTED') return 'CANCELED';
  return cell;
}

const ok = (result: OrderResult): Order => {
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  return result.order;
};

const run = (order: Order, ...events: OrderEvent[]): Order =>
  events.reduce((o, e) => ok(applyOrderEvent(o, e)), order);

describe('order transition table', () => {
  it('lists every status and event', () => {
    expect(Object.keys(ORDER_TRANSITIONS).sort()).toEqual([...ORDER_STATUSES].sort());
    expect(expected.size).toBe(ORDER_STATUSES.length * ORDER_EVENT_TYPES.length);
  });

  for (const status of ORDER_STATUSES) {
    for (const event of ORDER_EVENT_TYPES) {
      const cell = expected.get(`${status}/${event}`);
      it(`${status} + ${event} → ${cell}`, () => {
        expect(ORDER_TRANSITIONS[status][event] ?? '-').toBe(cell);
        const order = orderIn(status);
        const result = applyOrderEvent(order, sampleEvent(event, order));
        if (cell === '-') {
          expect(result).toEqual({
            ok: false,
            code: 'ILLEGAL_TRANSITION',
            from: status,
            event,
            message: expect.any(String),
          });
        } else {
          expect(ok(result).status).toBe(expectedStatus(cell ?? ''));
        }
      });
    }
  }

  it('terminal statuses accept nothing, open ones are the rest', () => {
    const terminal = ORDER_STATUSES.filter(isTerminal);
    expect(terminal).toEqual(['REJECTED', 'FILLED', 'CANCELED', 'EXPIRED']);
    for (const s of ORDER_STATUSES) expect(isOpen(s)).toBe(!isTerminal(s));
    expect(isOpen('UNKNOWN')).toBe(true);
  });
});

describe('fills', () => {
  const accepted = run(base, { type: 'accepted', ts: T0 + 1, brokerOrderId: 'B-9' });

  it('accumulates quantity, leaves and a quantity-weighted average price', () => {
    const o = run(
      accepted,
      { type: 'partially_filled', tradeId: 't1', qty: 3, price: 128_000, ts: T0 + 2 },
      { type: 'partially_filled', tradeId: 't2', qty: 1, price: 128_020, ts: T0 + 3 },
    );
    expect(o).toMatchObject({ status: 'PARTIALLY_FILLED', filledQty: 4, leavesQty: 6, brokerOrderId: 'B-9' });
    expect(o.avgFillPrice).toBe(128_005);
    const done = run(o, { type: 'filled', tradeId: 't3', qty: 6, price: 128_010, ts: T0 + 4 });
    expect(done).toMatchObject({ status: 'FILLED', filledQty: 10, leavesQty: 0 });
    expect(done.avgFillPrice).toBe((3 * 128_000 + 128_020 + 6 * 128_010) / 10);
    expect(done.fills.map((f) => f.tradeId)).toEqual(['t1', 't2', 't3']);
  });

  it('keeps the average exact for decimal prices', () => {
    const petr = createOrder({ ...base, symbol: 'PETR4', quantity: 300, price: 38.51 }, T0);
    const o = run(
      petr,
      { type: 'partially_filled', tradeId: 'p1', qty: 100, price: 38.51, ts: T0 },
      { type: 'partially_filled', tradeId: 'p2', qty: 100, price: 38.51, ts: T0 },
    );
    expect(o.avgFillPrice).toBe(38.51);
  });

  it('classifies fills by quantity: a completing "partially_filled" fills, a short "filled" does not', () => {
    const full = run(accepted, { type: 'partially_filled', tradeId: 't1', qty: 10, price: 128_000, ts: T0 });
    expect(full.status).toBe('FILLED');
    const part = run(accepted, { type: 'filled', tradeId: 't1', qty: 2, price: 128_000, ts: T0 });
    expect(part.status).toBe('PARTIALLY_FILLED');
  });

  it('ignores a fill whose trade id was applied, in any status, terminal included', () => {
    const fill: OrderEvent = { type: 'partially_filled', tradeId: 't1', qty: 4, price: 128_000, ts: T0 };
    const once = run(accepted, fill);
    const again = applyOrderEvent(once, fill);
    expect(again).toEqual({ ok: true, order: once, duplicate: true });
    if (again.ok) expect(again.order).toBe(once);
    const filled = run(once, { type: 'filled', tradeId: 't2', qty: 6, price: 128_000, ts: T0 });
    expect(applyOrderEvent(filled, { ...fill, tradeId: 't2', type: 'filled' })).toMatchObject({
      ok: true,
      duplicate: true,
    });
  });

  it('refuses an over-fill and leaves the order as it was', () => {
    const o = run(accepted, { type: 'partially_filled', tradeId: 't1', qty: 8, price: 128_000, ts: T0 });
    const over = applyOrderEvent(o, { type: 'filled', tradeId: 't2', qty: 3, price: 128_000, ts: T0 });
    expect(over).toMatchObject({ ok: false, code: 'OVERFILL', from: 'PARTIALLY_FILLED', event: 'filled' });
    expect(o.filledQty).toBe(8);
  });

  it('refuses fills with a bad quantity or price', () => {
    for (const bad of [
      { qty: 0, price: 128_000 },
      { qty: 1.5, price: 128_000 },
      { qty: 1, price: 0 },
      { qty: 1, price: Number.NaN },
    ]) {
      const r = applyOrderEvent(accepted, { type: 'partially_filled', tradeId: 'x', ts: T0, ...bad });
      expect(r).toMatchObject({ ok: false, code: 'INVALID_FILL' });
    }
  });

  it('takes fills before the ack and a late ack after them', () => {
    const o = run(base, { type: 'partially_filled', tradeId: 't1', qty: 2, price: 128_000, ts: T0 });
    expect(o.status).toBe('PARTIALLY_FILLED');
    expect(run(o, { type: 'accepted', ts: T0, brokerOrderId: 'B-1' })).toMatchObject({
      status: 'PARTIALLY_FILLED',
      brokerOrderId: 'B-1',
    });
  });

  it('never moves updatedAt backwards', () => {
    const o = run(accepted, {
      type: 'partially_filled',
      tradeId: 't1',
      qty: 1,
      price: 128_000,
      ts: T0 - 5000,
    });
    expect(o.updatedAt).toBe(T0 + 1);
  });
});

describe('cancel', () => {
  const accepted = run(base, { type: 'accepted', ts: T0 });

  it('returns to the state it came from when the cancel is refused', () => {
    const pending = run(accepted, { type: 'cancel_requested', ts: T0 });
    expect(pending).toMatchObject({ status: 'PENDING_CANCEL', resumeStatus: 'ACCEPTED' });
    const back = run(pending, { type: 'cancel_rejected', ts: T0, reason: 'too late' });
    expect(back.status).toBe('ACCEPTED');
    expect(back.resumeStatus).toBeUndefined();
  });

  it('stays pending on a partial fill, returns to PARTIALLY_FILLED if refused, cancels the rest', () => {
    const pending = run(
      accepted,
      { type: 'cancel_requested', ts: T0 },
      { type: 'partially_filled', tradeId: 't1', qty: 3, price: 128_000, ts: T0 },
    );
    expect(pending).toMatchObject({
      status: 'PENDING_CANCEL',
      resumeStatus: 'PARTIALLY_FILLED',
      filledQty: 3,
    });
    expect(run(pending, { type: 'cancel_rejected', ts: T0 }).status).toBe('PARTIALLY_FILLED');
    expect(run(pending, { type: 'canceled', ts: T0 })).toMatchObject({
      status: 'CANCELED',
      filledQty: 3,
      leavesQty: 7,
    });
  });

  it('ends FILLED when the rest fills before the cancel lands', () => {
    const pending = run(accepted, { type: 'cancel_requested', ts: T0 });
    expect(run(pending, { type: 'filled', tradeId: 't1', qty: 10, price: 128_000, ts: T0 }).status).toBe(
      'FILLED',
    );
  });

  it('from PENDING_NEW: a late ack while pending moves the resume status to ACCEPTED', () => {
    const pending = run(base, { type: 'cancel_requested', ts: T0 });
    expect(pending.resumeStatus).toBe('PENDING_NEW');
    const acked = run(pending, { type: 'accepted', ts: T0 });
    expect(acked).toMatchObject({ status: 'PENDING_CANCEL', resumeStatus: 'ACCEPTED' });
    expect(run(pending, { type: 'cancel_rejected', ts: T0 }).status).toBe('PENDING_NEW');
  });

  it('a repeated cancel request keeps the original resume status', () => {
    const twice = run(accepted, { type: 'cancel_requested', ts: T0 }, { type: 'cancel_requested', ts: T0 });
    expect(twice).toMatchObject({ status: 'PENDING_CANCEL', resumeStatus: 'ACCEPTED' });
  });
});

describe('replace', () => {
  const accepted = run(base, { type: 'accepted', ts: T0 });

  it('applies the requested change when the broker confirms it', () => {
    const pending = run(accepted, {
      type: 'replace_requested',
      ts: T0,
      change: { price: 128_100, quantity: 12 },
    });
    expect(pending).toMatchObject({ status: 'PENDING_REPLACE', resumeStatus: 'ACCEPTED' });
    const done = run(pending, { type: 'replaced', ts: T0 });
    expect(done).toMatchObject({ status: 'ACCEPTED', price: 128_100, quantity: 12, leavesQty: 12 });
    expect(done.pendingChange).toBeUndefined();
  });

  it('prefers the values the broker reports over the requested ones', () => {
    const pending = run(accepted, { type: 'replace_requested', ts: T0, change: { price: 128_100 } });
    expect(run(pending, { type: 'replaced', ts: T0, change: { price: 128_095 } }).price).toBe(128_095);
  });

  it('returns to PARTIALLY_FILLED when refused after a fill arrived meanwhile', () => {
    const pending = run(
      accepted,
      { type: 'replace_requested', ts: T0, change: { price: 128_100 } },
      { type: 'partially_filled', tradeId: 't1', qty: 2, price: 128_000, ts: T0 },
    );
    expect(pending).toMatchObject({ status: 'PENDING_REPLACE', resumeStatus: 'PARTIALLY_FILLED' });
    const back = run(pending, { type: 'replace_rejected', ts: T0 });
    expect(back).toMatchObject({ status: 'PARTIALLY_FILLED', price: 128_000 });
    expect(back.pendingChange).toBeUndefined();
  });

  it('refuses a quantity at or below what is filled, and an empty change', () => {
    const part = run(accepted, { type: 'partially_filled', tradeId: 't1', qty: 4, price: 128_000, ts: T0 });
    expect(
      applyOrderEvent(part, { type: 'replace_requested', ts: T0, change: { quantity: 4 } }),
    ).toMatchObject({
      ok: false,
      code: 'INVALID_REPLACE',
    });
    expect(run(part, { type: 'replace_requested', ts: T0, change: { quantity: 5 } }).status).toBe(
      'PENDING_REPLACE',
    );
    expect(applyOrderEvent(part, { type: 'replace_requested', ts: T0, change: {} })).toMatchObject({
      code: 'INVALID_REPLACE',
    });
  });

  it('a cancel during a replace returns to PENDING_REPLACE if refused, to the live status once the replace settles', () => {
    const both = run(
      accepted,
      { type: 'replace_requested', ts: T0, change: { price: 128_100 } },
      { type: 'cancel_requested', ts: T0 },
    );
    expect(both).toMatchObject({ status: 'PENDING_CANCEL', resumeStatus: 'PENDING_REPLACE' });
    const refused = run(both, { type: 'cancel_rejected', ts: T0 });
    expect(refused).toMatchObject({
      status: 'PENDING_REPLACE',
      resumeStatus: 'ACCEPTED',
      pendingChange: { price: 128_100 },
    });
    const replaced = run(both, { type: 'replaced', ts: T0 });
    expect(replaced).toMatchObject({ status: 'PENDING_CANCEL', resumeStatus: 'ACCEPTED', price: 128_100 });
    expect(replaced.pendingChange).toBeUndefined();
    expect(run(replaced, { type: 'cancel_rejected', ts: T0 }).status).toBe('ACCEPTED');
  });

  it('a fill during cancel-after-replace keeps the replace as the resume status', () => {
    const both = run(
      accepted,
      { type: 'replace_requested', ts: T0, change: { price: 128_100 } },
      { type: 'cancel_requested', ts: T0 },
      { type: 'partially_filled', tradeId: 't1', qty: 1, price: 128_000, ts: T0 },
    );
    expect(both.resumeStatus).toBe('PENDING_REPLACE');
    expect(run(both, { type: 'cancel_rejected', ts: T0 })).toMatchObject({
      status: 'PENDING_REPLACE',
      resumeStatus: 'PARTIALLY_FILLED',
    });
  });
});

describe('unknown', () => {
  const accepted = run(base, { type: 'accepted', ts: T0 });
  const unknown = run(accepted, { type: 'timed_out', ts: T0 });

  it('a late ack or fill settles it', () => {
    expect(run(unknown, { type: 'accepted', ts: T0 }).status).toBe('ACCEPTED');
    expect(run(unknown, { type: 'partially_filled', tradeId: 't1', qty: 1, price: 1, ts: T0 }).status).toBe(
      'PARTIALLY_FILLED',
    );
  });

  it('resolves to what reconciliation reports, applying the fills it found', () => {
    const filled = run(unknown, {
      type: 'resolved',
      ts: T0,
      status: 'FILLED',
      fills: [
        { tradeId: 'r1', qty: 4, price: 128_000, ts: T0 },
        { tradeId: 'r2', qty: 6, price: 128_010, ts: T0 },
      ],
    });
    expect(filled).toMatchObject({ status: 'FILLED', filledQty: 10, leavesQty: 0, avgFillPrice: 128_006 });
    const partial = run(unknown, {
      type: 'resolved',
      ts: T0,
      status: 'ACCEPTED',
      fills: [{ tradeId: 'r1', qty: 4, price: 128_000, ts: T0 }],
    });
    expect(partial.status).toBe('PARTIALLY_FILLED');
    const rejected = run(run(base, { type: 'timed_out', ts: T0 }), {
      type: 'resolved',
      ts: T0,
      status: 'REJECTED',
      reason: 'no margin',
    });
    expect(rejected).toMatchObject({ status: 'REJECTED', rejectReason: 'no margin' });
  });

  it('skips fills it already holds and refuses a verdict the fills contradict', () => {
    const part = run(
      accepted,
      { type: 'partially_filled', tradeId: 'r1', qty: 4, price: 128_000, ts: T0 },
      { type: 'timed_out', ts: T0 },
    );
    const again = run(part, {
      type: 'resolved',
      ts: T0,
      status: 'PARTIALLY_FILLED',
      fills: [{ tradeId: 'r1', qty: 4, price: 128_000, ts: T0 }],
    });
    expect(again).toMatchObject({ status: 'PARTIALLY_FILLED', filledQty: 4 });
    expect(applyOrderEvent(part, { type: 'resolved', ts: T0, status: 'FILLED' })).toMatchObject({
      ok: false,
      code: 'FILL_MISMATCH',
    });
  });

  it('a replace that timed out still applies when its late confirmation arrives', () => {
    const lost = run(
      accepted,
      { type: 'replace_requested', ts: T0, change: { price: 128_100 } },
      { type: 'timed_out', ts: T0 },
    );
    expect(lost).toMatchObject({ status: 'UNKNOWN', pendingChange: { price: 128_100 } });
    expect(run(lost, { type: 'replaced', ts: T0 })).toMatchObject({ status: 'ACCEPTED', price: 128_100 });
    expect(run(lost, { type: 'accepted', ts: T0 }).pendingChange).toBeUndefined();
  });

  it('can be canceled, and a refused cancel leaves it UNKNOWN', () => {
    const pending = run(unknown, { type: 'cancel_requested', ts: T0 });
    expect(pending.resumeStatus).toBe('UNKNOWN');
    expect(run(pending, { type: 'cancel_rejected', ts: T0 }).status).toBe('UNKNOWN');
  });
});

describe('orderShapeError', () => {
  const shape = { type: 'LIMIT' as const, quantity: 1, price: 10 };

  it('accepts each type with exactly the prices it needs', () => {
    expect(orderShapeError(shape)).toBeNull();
    expect(orderShapeError({ type: 'MARKET', quantity: 1 })).toBeNull();
    expect(orderShapeError({ type: 'STOP', quantity: 1, stopPrice: 10 })).toBeNull();
    expect(orderShapeError({ type: 'STOP_LIMIT', quantity: 1, price: 10, stopPrice: 10 })).toBeNull();
  });

  it('names the field at fault', () => {
    expect(orderShapeError({ ...shape, quantity: 0 })?.details.field).toBe('quantity');
    expect(orderShapeError({ ...shape, quantity: 2.5 })?.details.field).toBe('quantity');
    expect(orderShapeError({ type: 'LIMIT', quantity: 1 })?.details.field).toBe('price');
    expect(orderShapeError({ type: 'MARKET', quantity: 1, price: 10 })?.details.field).toBe('price');
    expect(orderShapeError({ type: 'STOP', quantity: 1 })?.details.field).toBe('stopPrice');
    expect(orderShapeError({ ...shape, price: -1 })).toMatchObject({
      code: 'INVALID_ORDER',
      details: { field: 'price' },
    });
  });
});
