import { expect } from 'vitest';
import type { ServiceContext } from '../../src/kernel/service.js';
import { type JsonBody, waitFor } from './cli.js';

/** Helpers for tests that build the order manager in process and talk to it with `inject`. */
export type App = ServiceContext['app'];

export async function call(app: App, method: string, url: string, payload?: object, actor?: string) {
  const res = await app.inject({
    method: method as 'GET',
    url,
    ...(payload !== undefined && { payload }),
    ...(actor && { headers: { 'x-actor': actor } }),
  });
  return { status: res.statusCode, body: res.json() as JsonBody };
}

/** A one-lot WINZ26 market buy, with any field overridden. */
export const win = (over: Record<string, unknown> = {}) => ({
  symbol: 'WINZ26',
  side: 'BUY',
  type: 'MARKET',
  quantity: 1,
  ...over,
});

/** Places an order that must be accepted by the service (201). */
export async function place(app: App, body: object) {
  const r = await call(app, 'POST', '/api/orders', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.data as JsonBody;
}

/** Waits until the order has the status, and returns it. */
export async function until(app: App, id: string, status: string) {
  return waitFor(`order ${id} ${status}`, async () => {
    const o = (await call(app, 'GET', `/api/orders/${id}`)).body.data;
    return o.status === status ? o : null;
  });
}
