import { readFileSync } from 'node:fs';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
export const sleepUntil = (t: number) => sleep(t - Date.now());

/** Seconds with one decimal, for people. */
export const secs = (ms: number | null | undefined) => (ms == null ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);

/** A deterministic pseudo-random generator (mulberry32), so a failing run can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Runs `fn` until it returns something truthy or the time is up; null when it never did. Never throws. */
export async function pollUntil<T>(
  fn: () => T | Promise<T>,
  timeoutMs: number,
  everyMs = 200,
): Promise<NonNullable<T> | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch {
      // keep polling: the thing polled may be restarting
    }
    if (Date.now() >= deadline) return null;
    await sleep(Math.min(everyMs, deadline - Date.now()));
  }
}

/** The command line of a process, or null when it is gone. */
export function commandLineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return null;
  }
}

/** The process state letter from /proc (R, S, D, T = stopped, Z), or null when it is gone. */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** The local date (YYYY-MM-DD) of an instant in a time zone. */
export function localDate(timeZone: string, ts: number): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone }).format(new Date(ts));
}

/** Milliseconds since the local midnight of `ts` in `timeZone`. */
export function msIntoLocalDay(timeZone: string, ts: number): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(new Date(ts))
      .map((p) => [p.type, p.value]),
  );
  return ((Number(parts.hour) * 60 + Number(parts.minute)) * 60 + Number(parts.second)) * 1000 + (ts % 1000);
}

/** The next local midnight after `ts` in `timeZone` (zones without a DST change in the next day). */
export function nextLocalMidnight(timeZone: string, ts: number): number {
  return ts + 86_400_000 - msIntoLocalDay(timeZone, ts);
}
