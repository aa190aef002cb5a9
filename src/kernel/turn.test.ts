import { describe, expect, it } from 'vitest';
import { TurnBatcher } from './turn.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('TurnBatcher', () => {
  it('runs once at the end of the turn, however often it was scheduled', async () => {
    let runs = 0;
    const b = new TurnBatcher(() => runs++);
    for (let i = 0; i < 1_000; i++) b.schedule();
    expect(runs).toBe(0);
    expect(b.pending).toBe(true);
    await nextTurn();
    expect(runs).toBe(1);
    expect(b.pending).toBe(false);
  });

  it('a schedule made during the run waits for the next turn', async () => {
    const seen: number[] = [];
    let b: TurnBatcher;
    let turn = 0;
    b = new TurnBatcher(() => {
      seen.push(turn);
      if (seen.length === 1) b.schedule();
    });
    b.schedule();
    await nextTurn();
    turn = 1;
    await nextTurn();
    expect(seen).toEqual([0, 1]);
  });

  it('flushNow runs at once and the pending run does not run again', async () => {
    let runs = 0;
    const b = new TurnBatcher(() => runs++);
    b.schedule();
    b.flushNow();
    expect(runs).toBe(1);
    expect(b.pending).toBe(false);
    await nextTurn();
    expect(runs).toBe(1);
  });

  it('takes another scheduler (a test clock, a different phase)', () => {
    const queued: (() => void)[] = [];
    let runs = 0;
    const b = new TurnBatcher(
      () => runs++,
      (fn) => queued.push(fn),
    );
    b.schedule();
    b.schedule();
    expect(queued).toHaveLength(1);
    queued.shift()?.();
    expect(runs).toBe(1);
  });
});
