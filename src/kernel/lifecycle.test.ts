import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Lifecycle } from './lifecycle.js';

function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

describe('Lifecycle', () => {
  it('starts in order and stops in reverse, waiting for each', async () => {
    const { logger, lines } = recordingLogger();
    const lc = new Lifecycle(logger);
    const log: string[] = [];
    for (const name of ['store', 'journal', 'capture']) {
      lc.add({
        name,
        start: () => log.push(`start ${name}`),
        stop: async () => {
          await new Promise((r) => setTimeout(r, 5));
          log.push(`stop ${name}`);
        },
      });
    }
    lc.add({ name: 'no-op' });
    await lc.start();
    await lc.stop();
    expect(log).toEqual([
      'start store',
      'start journal',
      'start capture',
      'stop capture',
      'stop journal',
      'stop store',
    ]);
    const stopped = lines.find((l) => l.event === 'service.stopped') as { ms: Record<string, number> };
    expect(Object.keys(stopped.ms)).toEqual(['capture', 'journal', 'store']);
    expect(stopped.ms.capture).toBeGreaterThanOrEqual(4);
  });

  it('logs a stop that fails and still stops the others', async () => {
    const { logger, lines } = recordingLogger();
    const lc = new Lifecycle(logger);
    const stopped: string[] = [];
    lc.add({ name: 'first', stop: () => stopped.push('first') });
    lc.add({
      name: 'broken',
      stop: () => {
        throw new Error('fd gone');
      },
    });
    lc.add({ name: 'last', stop: () => stopped.push('last') });
    await lc.stop();
    expect(stopped).toEqual(['last', 'first']);
    expect(lines.find((l) => l.event === 'service.stop_failed')).toMatchObject({
      component: 'broken',
      err: 'fd gone',
    });
  });
});
