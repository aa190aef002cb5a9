import { describe, expect, it } from 'vitest';
import { Bus } from './bus.js';

interface Topics {
  tick: number;
  note: string;
}

describe('Bus', () => {
  it('delivers synchronously, in subscription order, only to the topic subscribed', () => {
    const errors: string[] = [];
    const bus = new Bus<Topics>((topic) => errors.push(topic));
    const got: string[] = [];
    bus.on('tick', (n) => got.push(`a${n}`));
    bus.on('tick', (n) => got.push(`b${n}`));
    bus.on('note', (s) => got.push(s));
    bus.publish('tick', 1);
    got.push('after');
    expect(got).toEqual(['a1', 'b1', 'after']);
    expect(bus.has('note')).toBe(true);
    expect(errors).toEqual([]);
  });

  it('stops delivering after unsubscribe, also when unsubscribed during a publish', () => {
    const bus = new Bus<Topics>(() => {});
    const got: string[] = [];
    const offA = bus.on('tick', (n) => {
      got.push(`a${n}`);
      offA();
    });
    bus.on('tick', (n) => got.push(`b${n}`));
    bus.publish('tick', 1); // a leaves during this publish; b still gets it
    bus.publish('tick', 2);
    expect(got).toEqual(['a1', 'b1', 'b2']);
  });

  it('reports a handler that throws and still delivers to the others', () => {
    const errors: [string, string][] = [];
    const bus = new Bus<Topics>((topic, err) => errors.push([topic, (err as Error).message]));
    const got: number[] = [];
    bus.on('tick', () => {
      throw new Error('broken');
    });
    bus.on('tick', (n) => got.push(n));
    bus.publish('tick', 7);
    expect(got).toEqual([7]);
    expect(errors).toEqual([['tick', 'broken']]);
  });

  it('lets a handler publish again: the inner message is delivered before the outer one ends', () => {
    const bus = new Bus<Topics>(() => {});
    const got: string[] = [];
    bus.on('tick', (n) => {
      got.push(`tick ${n}`);
      if (n === 1) bus.publish('note', 'inner');
      got.push(`tick ${n} done`);
    });
    bus.on('note', (s) => got.push(s));
    bus.publish('tick', 1);
    expect(got).toEqual(['tick 1', 'inner', 'tick 1 done']);
  });

  it('publishing a topic nobody subscribed does nothing', () => {
    const bus = new Bus<Topics>(() => {});
    expect(() => bus.publish('note', 'x')).not.toThrow();
    expect(bus.has('note')).toBe(false);
  });
});
