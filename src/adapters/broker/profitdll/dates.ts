import { partsIn, zonedInstant } from '../../../kernel/time.js';

/** A Windows SYSTEMTIME as the DLL fills it: exchange local time (B3: America/Sao_Paulo). */
export interface SystemTime {
  wYear: number;
  wMonth: number;
  wDay: number;
  wHour: number;
  wMinute: number;
  wSecond: number;
  wMilliseconds: number;
}

const DAY_MS = 86_400_000;
const MINUTES_KEPT = 4_096;

/**
 * Exchange-local times to epoch ms and back, for one zone. The trade path converts every trade's
 * time, so the instant of each local minute is worked out once (Intl is slow) and kept.
 */
export class ExchangeClock {
  private readonly minutes = new Map<number, number>();
  constructor(readonly timeZone: string) {}

  /** Epoch ms of a local SYSTEMTIME; NaN for a zero or impossible date (the DLL's "none"). */
  toEpoch(t: SystemTime): number {
    if (t.wYear < 1970 || t.wMonth < 1 || t.wMonth > 12 || t.wDay < 1 || t.wDay > 31) return Number.NaN;
    if (t.wHour > 23 || t.wMinute > 59 || t.wSecond > 59 || t.wMilliseconds > 999) return Number.NaN;
    const dayNumber = Date.UTC(t.wYear, t.wMonth - 1, t.wDay) / DAY_MS;
    const minute = t.wHour * 60 + t.wMinute;
    const key = dayNumber * 1440 + minute;
    let start = this.minutes.get(key);
    if (start === undefined) {
      if (this.minutes.size >= MINUTES_KEPT) this.minutes.clear();
      start = zonedInstant(this.timeZone, dayNumber, minute);
      this.minutes.set(key, start);
    }
    return start + t.wSecond * 1_000 + t.wMilliseconds;
  }

  /** `dd/mm/yyyy hh:nn:ss.zzz` in exchange time: the format GetHistoryTrades takes (ABI notes §5.9). */
  format(epochMs: number): string {
    const p = partsIn(this.timeZone, epochMs);
    const ms = String(((epochMs % 1000) + 1000) % 1000).padStart(3, '0');
    return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}:${p.second}.${ms}`;
  }
}
