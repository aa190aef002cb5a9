import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

/**
 * The layer rules in biome.json (`npm test` runs them on the tree through `biome check`): here each
 * rule is shown to fire on a file that breaks it, and to let a file that keeps it through, in a
 * throw-away project with the same configuration.
 */
const CASES: { file: string; from: string; allowed: boolean; names?: string }[] = [
  { file: 'src/domain/a.ts', from: 'node:fs', allowed: false },
  { file: 'src/domain/b.ts', from: '../adapters/storage/json-file.js', allowed: false },
  { file: 'src/domain/c.ts', from: '../kernel/service.js', allowed: false },
  { file: 'src/domain/d.ts', from: '../kernel/time.js', allowed: true },
  {
    file: 'src/domain/f.ts',
    from: '../kernel/errors.js',
    allowed: true,
    names: 'type { ErrorCode, RiskCode }',
  },
  { file: 'src/domain/g.ts', from: '../kernel/errors.js', allowed: false, names: '{ fail }' },
  { file: 'src/domain/h.ts', from: '../kernel/clock.js', allowed: false },
  { file: 'src/domain/e.test.ts', from: 'node:fs', allowed: true },
  { file: 'src/kernel/a.ts', from: '../services/registry.js', allowed: false },
  { file: 'src/kernel/b.ts', from: '../domain/orders.js', allowed: false },
  { file: 'src/kernel/e.ts', from: '../ports/broker.js', allowed: false },
  { file: 'src/kernel/auth/c.ts', from: '../../ops/supervisor/run.js', allowed: false },
  { file: 'src/kernel/d.ts', from: './clock.js', allowed: true },
  { file: 'src/kernel/config.ts', from: '../domain/instruments.js', allowed: false },
  { file: 'src/kernel/auth/keys.ts', from: '../../adapters/storage/json-file.js', allowed: false },
  { file: 'src/adapters/a.ts', from: '../services/data-capture/capture.js', allowed: false },
  { file: 'src/adapters/b.ts', from: '../kernel/clock.js', allowed: true },
  { file: 'src/services/data-capture/a.ts', from: '../order-manager/engine.js', allowed: false },
  { file: 'src/services/order-manager/x/b.ts', from: '../../stream/hub.js', allowed: false },
  { file: 'src/services/idea-bank/c.ts', from: '../registry.js', allowed: false },
  { file: 'src/services/docs/d.ts', from: '../../ops/slo/report.js', allowed: false },
  { file: 'src/services/stream/service.ts', from: '../registry.js', allowed: false },
  { file: 'src/services/gateway/health.ts', from: '../registry.js', allowed: false },
  { file: 'src/services/gateway/slo.ts', from: '../../ops/slo/report.js', allowed: false },
  { file: 'src/services/gateway/e.ts', from: '../../adapters/slo-report.js', allowed: true },
  { file: 'src/services/stream/e.ts', from: '../../kernel/feed/index.js', allowed: true },
  { file: 'src/services/order-manager/f.ts', from: './engine.js', allowed: true },
  {
    file: 'src/services/order-manager/g.ts',
    from: '../../adapters/storage/order-journal.js',
    allowed: false,
  },
  { file: 'src/services/order-manager/service.ts', from: '../../adapters/broker/factory.js', allowed: true },
  { file: 'src/ports/a.ts', from: '../adapters/broker/sim/index.js', allowed: false },
  { file: 'src/ports/b.ts', from: 'node:fs', allowed: false },
  { file: 'src/ports/c.ts', from: '../domain/execution.js', allowed: true },
  // One probe per file, so the CLI's is the import that used to be exempt.
  { file: 'src/cli.ts', from: './services/data-capture/market-store.js', allowed: false },
];

describe('layer rules', () => {
  it('refuse an import across a layer and let the allowed ones through', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-layers-'));
    const config = JSON.parse(readFileSync(path.join(ROOT, 'biome.json'), 'utf8'));
    delete config.$schema;
    writeFileSync(path.join(dir, 'biome.json'), JSON.stringify(config));
    for (const c of CASES) {
      mkdirSync(path.dirname(path.join(dir, c.file)), { recursive: true });
      writeFileSync(
        path.join(dir, c.file),
        `import ${c.names ?? '{ x }'} from '${c.from}';\nexport const y = x;\n`,
      );
    }
    // Exits 1 (the probes break rules on purpose); its summary on stderr is not wanted here.
    const out = spawnSync(
      path.join(ROOT, 'node_modules', '.bin', 'biome'),
      ['lint', '--reporter=github', '.'],
      {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    ).stdout;
    const refused = new Set(
      [...out.matchAll(/title=lint\/style\/noRestrictedImports,file=([^,]+),/g)].map((m) =>
        path.relative(dir, m[1] as string),
      ),
    );
    for (const c of CASES)
      expect(refused.has(c.file), `${c.file} importing ${c.from}: ${c.allowed ? 'allowed' : 'refused'}`).toBe(
        !c.allowed,
      );
  });
});
