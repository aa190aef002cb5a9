import { describe, expect, it } from 'vitest';
import { PositionBook } from './positions.js';

describe('PositionBook', () => {
  it('averages while adding, keeps the average while reducing, resets when flat', () => {
    const book = new PositionBook();
    book.applyFill('A', 'WINZ26', 'BUY', 2, 100);
    book.applyFill('A', 'WINZ26', 'BUY', 2, 110);
    expect(book.list('A')).toEqual([{ account: 'A', symbol: 'WINZ26', quantity: 4, averagePrice: 105 }]);
    book.applyFill('A', 'WINZ26', 'SELL', 1, 200);
    expect(book.list('A')[0]).toMatchObject({ quantity: 3, averagePrice: 105 });
    book.applyFill('A', 'WINZ26', 'SELL', 3, 90);
    expect(book.list('A')[0]).toMatchObject({ quantity: 0, averagePrice: 0 });
  });

  it('takes the fill price as the average when a fill flips the side', () => {
    const book = new PositionBook();
    book.applyFill('A', 'PETR4', 'BUY', 100, 38.5);
    book.applyFill('A', 'PETR4', 'SELL', 300, 38.7);
    expect(book.list('A')).toEqual([{ account: 'A', symbol: 'PETR4', quantity: -200, averagePrice: 38.7 }]);
    expect(book.list('B')).toEqual([]);
  });
});
