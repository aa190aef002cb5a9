import { describe, expect, it } from 'vitest';
import { ExchangeClock } from './dates.js';

const clock = new ExchangeClock('America/Sao_Paulo');
const st = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number) => ({
  wYear: y,
  wMonth: mo,
  wDay: d,
  wHour: h,
  wMinute: mi,
  wSecond: s,
  wMilliseconds: ms,
});

describe('exchange time of the DLL', () => {
  it('reads a SYSTEMTIME as São Paulo local time', () => {
    expect(clock.toEpoch(st(2026, 12, 7, 10, 0, 0, 250))).toBe(Date.UTC(2026, 11, 7, 13, 0, 0, 250));
    // Before 2019 São Paulo kept daylight saving: the same wall time was 2 h behind UTC in summer.
    expect(clock.toEpoch(st(2018, 12, 7, 10, 0, 0, 0))).toBe(Date.UTC(2018, 11, 7, 12, 0, 0, 0));
  });

  it('takes an empty or impossible date as none', () => {
    expect(clock.toEpoch(st(0, 0, 0, 0, 0, 0, 0))).toBeNaN();
    expect(clock.toEpoch(st(2026, 13, 1, 0, 0, 0, 0))).toBeNaN();
    expect(clock.toEpoch(st(2026, 1, 1, 24, 0, 0, 0))).toBeNaN();
  });

  it('writes the dd/mm/yyyy hh:nn:ss.zzz GetHistoryTrades takes', () => {
    expect(clock.format(Date.UTC(2026, 11, 7, 2, 5, 9, 7))).toBe('06/12/2026 23:05:09.007');
  });
});
