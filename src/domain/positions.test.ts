import { describe, expect, it } from 'vitest';
import { defaultInstrument } from '../kernel/test-support.js';
import type { Instrument } from './instruments.js';
import {
  applyFill,
  dailyPnl,
  flatPosition,
  type Position,
  type PositionFill,
  positionSnapshot,
  roundBrl,
  sessionKeyAt,
  startSession,
  unrealisedPnl,
} from './positions.js';

const instrument = defaultInstrument;
const WIN = instrument('WINZ26');
const WDO = instrument('WDOZ26');
const PETR = instrument('PETR4');
const SESSION = '2026-06-17';

let tradeSeq = 0;
const buy = (qty: number, price: number): PositionFill => ({
  tradeId: `t${++tradeSeq}`,
  side: 'BUY',
  qty,
  price,
  ts: 1,
});
const sell = (qty: number, price: number): PositionFill => ({
  tradeId: `t${++tradeSeq}`,
  side: 'SELL',
  qty,
  price,
  ts: 1,
});

const trade = (inst: Instrument, ...fills: PositionFill[]): Position =>
  fills.reduce((p, f) => applyFill(p, f).position, flatPosition('ACC1', inst, SESSION));

describe('round trips', () => {
  it('WIN long: 2 contracts up 100 points make R$40', () => {
    const p = trade(WIN, buy(2, 128_000), sell(2, 128_100));
    expect(p).toMatchObject({ quantity: 0, avgPrice: 0, realisedPnl: 40 });
  });

  it('WIN short: sold 128,000, bought back 127,900 makes R$20; back at 128,050 loses R$10', () => {
    expect(trade(WIN, sell(1, 128_000), buy(1, 127_900)).realisedPnl).toBe(20);
    expect(trade(WIN, sell(1, 128_000), buy(1, 128_050)).realisedPnl).toBe(-10);
  });

  it('WDO long: 3 contracts up 9.5 points make R$285', () => {
    expect(trade(WDO, buy(3, 5_400.5), sell(3, 5_410)).realisedPnl).toBe(285);
  });

  it('WDO short: 2 contracts against 12.5 points lose R$250', () => {
    expect(trade(WDO, sell(2, 5_400), buy(2, 5_412.5)).realisedPnl).toBe(-250);
  });

  it('equities: average and P&L exact in cents', () => {
    const open = trade(PETR, buy(100, 38.51));
    expect(open.avgPrice).toBe(38.51);
    const p = trade(PETR, buy(100, 38.51), buy(200, 38.52), sell(300, 38.6));
    expect(p.realisedPnl).toBe(25);
  });
});

describe('partial fills', () => {
  it('averages entries and realises each exit against the average', () => {
    const opened = trade(WIN, buy(1, 128_000), buy(2, 128_015));
    expect(opened).toMatchObject({ quantity: 3, avgPrice: 128_010 });
    const first = applyFill(opened, sell(1, 128_020));
    expect(first.realised).toBe(2);
    expect(first.position).toMatchObject({ quantity: 2, avgPrice: 128_010, realisedPnl: 2 });
    const second = applyFill(first.position, sell(2, 128_000));
    expect(second.realised).toBe(-4);
    expect(second.position).toMatchObject({ quantity: 0, realisedPnl: -2 });
  });

  it('keeps the session total exact when per-fill amounts round', () => {
    // Average 128,003.33…: each exit realises R$1.333…, the three together exactly R$4.
    const p = trade(
      WIN,
      buy(1, 128_000),
      buy(2, 128_005),
      sell(1, 128_010),
      sell(1, 128_010),
      sell(1, 128_010),
    );
    expect(p.realisedPnl).toBe(4);
  });
});

describe('flips', () => {
  it('long 2 → sell 5 → short 3: realises the 2, opens 3 at the fill price', () => {
    const long = trade(WIN, buy(2, 128_000));
    const flip = applyFill(long, sell(5, 128_050));
    expect(flip.realised).toBe(20);
    expect(flip.position).toMatchObject({ quantity: -3, avgPrice: 128_050, realisedPnl: 20 });
    const closed = applyFill(flip.position, buy(3, 128_000));
    expect(closed.realised).toBe(30);
    expect(closed.position).toMatchObject({ quantity: 0, realisedPnl: 50 });
  });

  it('short → long on WDO', () => {
    const p = trade(WDO, sell(1, 5_400), buy(3, 5_395));
    expect(p).toMatchObject({ quantity: 2, avgPrice: 5_395, realisedPnl: 50 });
  });
});

describe('marks', () => {
  it('marks long and short positions to the last price', () => {
    expect(unrealisedPnl(trade(WIN, buy(2, 128_000)), 128_100)).toBe(40);
    expect(unrealisedPnl(trade(WDO, sell(3, 5_400)), 5_390.5)).toBe(285);
    expect(unrealisedPnl(trade(WDO, sell(3, 5_400)), 5_400.5)).toBe(-15);
    expect(unrealisedPnl(trade(WIN), 128_100)).toBe(0);
  });

  it('the snapshot adds realised and unrealised, or shows no mark without a price', () => {
    const p = trade(WIN, buy(3, 128_000), sell(1, 128_050));
    expect(positionSnapshot(p, 127_990)).toMatchObject({
      quantity: 2,
      avgPrice: 128_000,
      lastPrice: 127_990,
      realisedPnl: 10,
      unrealisedPnl: -4,
      totalPnl: 6,
    });
    expect(positionSnapshot(p)).toMatchObject({ lastPrice: null, unrealisedPnl: 0, totalPnl: 10 });
  });

  it('dailyPnl sums an account in whole cents', () => {
    const win = trade(WIN, buy(2, 128_000), sell(1, 128_100));
    const petr = trade(PETR, buy(100, 38.51), sell(100, 38.52), buy(100, 38.5));
    const last: Record<string, number> = { WINZ26: 128_050, PETR4: 38.47 };
    expect(dailyPnl([win, petr], (s) => last[s])).toEqual({ realised: 21, unrealised: 7 });
    expect(dailyPnl([win, petr], () => undefined)).toEqual({ realised: 21, unrealised: 0 });
  });
});

describe('idempotency', () => {
  it('a replayed fill changes nothing', () => {
    const fill = buy(2, 128_000);
    const once = applyFill(flatPosition('ACC1', WIN, SESSION), fill).position;
    const again = applyFill(once, fill);
    expect(again).toEqual({ position: once, duplicate: true, realised: 0 });
    expect(again.position).toBe(once);
  });

  it('keys on side and trade id, so both legs of one exchange trade count', () => {
    const p = trade(WIN, { tradeId: 'x', side: 'BUY', qty: 1, price: 128_000, ts: 1 });
    const other = applyFill(p, { tradeId: 'x', side: 'SELL', qty: 1, price: 128_000, ts: 1 });
    expect(other.duplicate).toBe(false);
    expect(other.position.quantity).toBe(0);
  });
});

describe('sessions', () => {
  it('a new session resets the daily figures and carries the position', () => {
    const fill = buy(1, 128_000);
    const yesterday = trade(WIN, buy(2, 128_000), sell(1, 128_100), fill);
    const today = startSession(yesterday, '2026-06-18');
    expect(today).toMatchObject({ sessionKey: '2026-06-18', quantity: 2, avgPrice: 128_000, realisedPnl: 0 });
    expect(applyFill(today, fill).duplicate).toBe(false);
    expect(startSession(today, '2026-06-18')).toBe(today);
  });

  it('the session key is the São Paulo date', () => {
    expect(sessionKeyAt(Date.UTC(2026, 5, 17, 2, 59), 'America/Sao_Paulo')).toBe('2026-06-16');
    expect(sessionKeyAt(Date.UTC(2026, 5, 17, 3, 0), 'America/Sao_Paulo')).toBe('2026-06-17');
  });

  it('roundBrl rounds to cents', () => {
    expect(roundBrl(1.005 + 1e-9)).toBe(1.01);
    expect(roundBrl(20.000000000000004)).toBe(20);
  });
});
