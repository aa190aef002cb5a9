import type { BrokerPosition } from '../../../domain/execution.js';
import type { OrderSide } from '../../../domain/orders.js';

/** The broker's own view of positions: the net of its fills, with the average price of the open side. */
export class PositionBook {
  private readonly byKey = new Map<string, BrokerPosition>();

  applyFill(account: string, symbol: string, side: OrderSide, qty: number, price: number): void {
    const key = `${account}\u0000${symbol}`;
    const position = this.byKey.get(key) ?? { account, symbol, quantity: 0, averagePrice: 0 };
    const signed = side === 'BUY' ? qty : -qty;
    const next = position.quantity + signed;
    if (next === 0) {
      position.averagePrice = 0;
    } else if (position.quantity === 0 || Math.sign(next) !== Math.sign(position.quantity)) {
      // Opened, or flipped through flat: the new side's cost is this fill.
      position.averagePrice = price;
    } else if (Math.abs(next) > Math.abs(position.quantity)) {
      position.averagePrice =
        (position.averagePrice * Math.abs(position.quantity) + price * qty) / Math.abs(next);
    } // Reducing keeps the average of what is left.
    position.quantity = next;
    this.byKey.set(key, position);
  }

  get(account: string, symbol: string): BrokerPosition | undefined {
    const position = this.byKey.get(`${account}\u0000${symbol}`);
    return position && { ...position };
  }

  /** Every symbol the account has traded, flat ones included (quantity 0), so flat is stated, not implied. */
  list(account: string): BrokerPosition[] {
    return [...this.byKey.values()].filter((p) => p.account === account).map((p) => ({ ...p }));
  }
}
