import { describe, expect, it } from 'vitest';
import { createOrder, type Order } from '../../domain/orders.js';
import { AppError } from '../../kernel/errors.js';
import { changed, found, limitsApplied, submitted } from './http.js';

const order = (status: Order['status']): Order => ({
  ...createOrder(
    {
      id: 'o-1',
      clientOrderId: 'c-1',
      account: 'SIM-001',
      symbol: 'WINZ26',
      side: 'BUY',
      type: 'LIMIT',
      quantity: 1,
      price: 130_000,
      timeInForce: 'DAY',
    },
    0,
  ),
  status,
});
const rejection = { code: 'RISK_MAX_ORDER_QTY' as const, message: 'too many', details: { max: 5 } };

function answer(fn: () => unknown): { status: number; code?: string; message?: string; details?: unknown } {
  try {
    const r = fn() as { status?: unknown } | undefined;
    // submitted() says its status; the others answer 200 with the order.
    return { status: typeof r?.status === 'number' ? r.status : 200 };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { status: err.status, code: err.code, message: err.message, details: err.details };
  }
}

describe('engine results as HTTP answers', () => {
  it.each([
    ['accepted', () => submitted({ kind: 'accepted', order: order('PENDING_NEW') }), { status: 201 }],
    ['duplicate', () => submitted({ kind: 'duplicate', order: order('ACCEPTED') }), { status: 200 }],
    [
      'denied',
      () => submitted({ kind: 'denied', rejection }),
      { status: 422, code: 'RISK_MAX_ORDER_QTY', message: 'too many', details: { max: 5 } },
    ],
    [
      'invalid',
      () =>
        submitted({
          kind: 'invalid',
          error: { code: 'INVALID_ORDER', message: 'price is required', details: { field: 'price' } },
        }),
      { status: 400, code: 'INVALID_ORDER', details: { field: 'price' } },
    ],
    ['cancelling', () => changed({ kind: 'cancelling', order: order('PENDING_CANCEL') }), { status: 200 }],
    ['not found', () => changed({ kind: 'not_found', id: 'x' }), { status: 404, code: 'NOT_FOUND' }],
    [
      'closed',
      () => changed({ kind: 'closed', order: order('FILLED') }),
      { status: 409, code: 'ORDER_CLOSED', message: 'order o-1 is FILLED', details: { status: 'FILLED' } },
    ],
    [
      'illegal transition',
      () =>
        changed({
          kind: 'illegal',
          order: order('FILLED'),
          error: {
            ok: false,
            code: 'ILLEGAL_TRANSITION',
            message: 'no',
            from: 'FILLED',
            event: 'replace_requested',
          },
        }),
      { status: 409, code: 'ILLEGAL_TRANSITION' },
    ],
    [
      'invalid replace',
      () =>
        changed({
          kind: 'illegal',
          order: order('ACCEPTED'),
          error: {
            ok: false,
            code: 'INVALID_REPLACE',
            message: 'no',
            from: 'ACCEPTED',
            event: 'replace_requested',
          },
        }),
      { status: 400, code: 'INVALID_REPLACE' },
    ],
    [
      'replace denied',
      () => changed({ kind: 'denied', rejection }),
      { status: 422, code: 'RISK_MAX_ORDER_QTY' },
    ],
    [
      'not UNKNOWN',
      () => changed({ kind: 'not_unknown', order: order('ACCEPTED') }),
      { status: 409, code: 'ORDER_NOT_UNKNOWN' },
    ],
    ['no order', () => found(undefined, 'x'), { status: 404, code: 'NOT_FOUND' }],
    [
      'bad limits',
      () => limitsApplied({ kind: 'invalid', problems: ['a', 'b'] }),
      {
        status: 400,
        code: 'VALIDATION_ERROR',
        message: 'a; b',
        details: { field: 'limits', problems: ['a', 'b'] },
      },
    ],
  ] as const)('%s', (_name, fn, expected) => {
    expect(answer(fn)).toMatchObject(expected);
  });
});
