import type { BrokerOrderRequest } from '../../../domain/execution.js';
import { type Instrument, isOnTick } from '../../../domain/instruments.js';
import type { OrderType } from '../../../domain/orders.js';

/** What a modify may change. */
export interface OrderChange {
  price?: number;
  quantity?: number;
  stopPrice?: number;
}

const SIDES = new Set(['BUY', 'SELL']);
const TYPES = new Set(['MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT']);
const TIMES_IN_FORCE = new Set(['DAY', 'IOC', 'FOK', 'GTC']);

export function hasLimitPrice(type: OrderType): boolean {
  return type === 'LIMIT' || type === 'STOP_LIMIT';
}

export function hasStopPrice(type: OrderType): boolean {
  return type === 'STOP' || type === 'STOP_LIMIT';
}

function quantityProblem(quantity: number, instrument: Instrument): string | null {
  if (!Number.isInteger(quantity) || quantity <= 0)
    return `quantity must be a positive integer, got ${quantity}`;
  if (quantity % instrument.lotSize !== 0) {
    return `quantity ${quantity} is not a multiple of the lot size ${instrument.lotSize}`;
  }
  return null;
}

function priceProblem(name: string, price: number | undefined, instrument: Instrument): string | null {
  if (price === undefined || !Number.isFinite(price) || price <= 0)
    return `${name} must be a positive number`;
  if (!isOnTick(price, instrument.tickSize)) {
    return `${name} ${price} is not on the tick grid of ${instrument.symbol} (tick ${instrument.tickSize})`;
  }
  return null;
}

/** Why the broker refuses a new order, or null when it is acceptable. */
export function newOrderProblem(
  order: BrokerOrderRequest,
  instrument: Instrument | undefined,
): string | null {
  if (!instrument) return `unknown symbol ${order.symbol}`;
  if (order.exchange !== instrument.exchange) {
    return `${order.symbol} trades on exchange ${instrument.exchange}, not ${order.exchange}`;
  }
  if (!SIDES.has(order.side)) return `unknown side ${order.side}`;
  if (!TYPES.has(order.type)) return `unknown order type ${order.type}`;
  if (!TIMES_IN_FORCE.has(order.timeInForce)) return `unknown time in force ${order.timeInForce}`;
  return (
    quantityProblem(order.quantity, instrument) ??
    (hasLimitPrice(order.type) ? priceProblem('price', order.price, instrument) : null) ??
    (hasStopPrice(order.type) ? priceProblem('stopPrice', order.stopPrice, instrument) : null)
  );
}

/** Why a modify cannot apply to an open order, or null. */
export function changeProblem(
  order: BrokerOrderRequest,
  filledQty: number,
  change: OrderChange,
  instrument: Instrument,
): string | null {
  if (change.price === undefined && change.quantity === undefined && change.stopPrice === undefined) {
    return 'nothing to change: give price, quantity or stopPrice';
  }
  if (change.quantity !== undefined) {
    const problem = quantityProblem(change.quantity, instrument);
    if (problem) return problem;
    if (change.quantity <= filledQty) {
      return `quantity ${change.quantity} must exceed the ${filledQty} already filled`;
    }
  }
  if (change.price !== undefined) {
    if (!hasLimitPrice(order.type)) return `a ${order.type} order has no limit price to change`;
    const problem = priceProblem('price', change.price, instrument);
    if (problem) return problem;
  }
  if (change.stopPrice !== undefined) {
    if (!hasStopPrice(order.type)) return `a ${order.type} order has no stop price to change`;
    const problem = priceProblem('stopPrice', change.stopPrice, instrument);
    if (problem) return problem;
  }
  return null;
}
