import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from './clock.js';

describe('ManualClock', () => {
  it('fires due timers in time order, each with now() at its own instant, and no others', () => {
    const clock = new ManualClock(1_000);
    const fired: string[] = [];
    clock.after(300, () => fired.push(`b@${clock.now()}`));
    clock.after(100, () => fired.push(`a@${clock.now()}`));
    clock.after(300, () => fired.push(`c@${clock.now()}`)); // same instant as b: scheduling order
    clock.after(500, () => fired.push('late'));
    clock.advance(300);
    expect(fired).toEqual(['a@1100', 'b@1300', 'c@1300']);
    expect(clock.now()).toBe(1_300);
    expect(clock.pending).toBe(1);
  });

  it('repeats an interval until cancelled, and a timer scheduled by a timer can fire in the same advance', () => {
    const clock = new ManualClock(0);
    const ticks: number[] = [];
    const every = clock.every(100, () => {
      ticks.push(clock.now());
      if (ticks.length === 2) clock.after(50, () => ticks.push(-clock.now()));
    });
    clock.advance(350);
    expect(ticks).toEqual([100, 200, -250, 300]);
    clock.cancel(every);
    clock.advance(1_000);
    expect(ticks).toHaveLength(4);
    expect(clock.pending).toBe(0);
  });

  it('cancel ignores a fired timer, a cancelled one and none', () => {
    const clock = new ManualClock(0);
    let n = 0;
    const t = clock.after(10, () => n++);
    clock.advance(10);
    clock.cancel(t);
    clock.cancel(t);
    clock.cancel(undefined);
    clock.cancel(null);
    expect(n).toBe(1);
  });

  it('set jumps without firing; the next advance fires what fell due', () => {
    const clock = new ManualClock(0);
    let fired = 0;
    clock.after(100, () => fired++);
    clock.set(500);
    expect(fired).toBe(0);
    clock.advance(0);
    expect(fired).toBe(1);
    expect(clock.now()).toBe(500); // time never goes back to the timer's instant
  });

  it('advanceAsync lets the promise work a timer starts finish before the next timer fires', async () => {
    const clock = new ManualClock(0);
    const log: string[] = [];
    clock.after(10, () => {
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => log.push('work done'));
    });
    clock.after(20, () => log.push('second timer'));
    await clock.advanceAsync(20);
    expect(log).toEqual(['work done', 'second timer']);
  });

  it('sleep resolves when time reaches it', async () => {
    const clock = new ManualClock(0);
    let woke = false;
    const sleeping = clock.sleep(1_000).then(() => {
      woke = true;
    });
    await clock.advanceAsync(999);
    expect(woke).toBe(false);
    await clock.advanceAsync(1);
    await sleeping;
    expect(woke).toBe(true);
  });
});

describe('systemClock', () => {
  it('runs real timers and cancels them', async () => {
    const fired: string[] = [];
    const cancelled = systemClock.after(5, () => fired.push('cancelled'));
    systemClock.cancel(cancelled);
    const every = systemClock.every(5, () => fired.push('tick'));
    await systemClock.sleep(30);
    systemClock.cancel(every);
    const ticks = fired.length;
    await systemClock.sleep(20);
    expect(fired).not.toContain('cancelled');
    expect(ticks).toBeGreaterThan(0);
    expect(fired).toHaveLength(ticks);
  });
});
