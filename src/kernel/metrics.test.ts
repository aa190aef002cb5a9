import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A major collection, then a turn for the GC observer to record it. */
async function majorGc(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('tradingsystem_heap_live_bytes', () => {
  it('follows the live set after major collections, not the garbage between them', async () => {
    const { registry } = createMetrics();
    const live = async () => {
      const line = (await registry.metrics())
        .split('\n')
        .find((l) => l.startsWith('tradingsystem_heap_live_bytes '));
      return Number(line?.split(' ')[1]) / 2 ** 20;
    };
    await majorGc();
    const base = await live();
    expect(base).toBeGreaterThan(1);

    // 40 MB kept: the live set grows by about that much.
    let kept: number[][] | null = Array.from({ length: 40 }, () => new Array(131_072).fill(1.5));
    await majorGc();
    expect(await live()).toBeGreaterThan(base + 30);

    // Released: the next major collection brings it back; garbage made since does not count.
    kept = null;
    await majorGc();
    for (let i = 0; i < 20; i++) new Array(131_072).fill(2.5);
    expect(await live()).toBeLessThan(base + 10);
    expect(kept).toBeNull();
  });
});
