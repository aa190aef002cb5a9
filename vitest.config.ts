import { defineConfig } from 'vitest/config';

/** Tests under src/ that are slow or start real engines: they run with the integration tests. */
const INTEGRATION_IN_SRC = ['src/services/data-capture/market-store.test.ts'];
const ALWAYS_EXCLUDED = ['dist/**', 'node_modules/**'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          // One module at a time, files in parallel: `npm run test:unit`, no build needed. The files
          // of a worker share its loaded modules (no isolation): importing Fastify, DuckDB and the
          // rest again for each file was half the lane's time.
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/layers.test.ts'],
          exclude: [...ALWAYS_EXCLUDED, ...INTEGRATION_IN_SRC],
          fileParallelism: true,
          isolate: false,
          // A unit test takes milliseconds: one waiting on a timer nobody advances fails fast.
          testTimeout: 10_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          // Real processes on fixed ports and loop mounts: files one after another, after the unit lane.
          name: 'integration',
          include: ['test/**/*.test.ts', ...INTEGRATION_IN_SRC],
          exclude: [...ALWAYS_EXCLUDED, 'test/layers.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
