#!/usr/bin/env node
// npm run chaos -- [--profile short|full] [--only name,...] [--results DIR] [--no-snapshot]
// Runs test/chaos.test.ts through vitest with the chosen profile; results go to chaos/results/<date>.json.
// The system under test runs from a snapshot of dist/ taken now, so a rebuild during the run (another
// shell's `npm test`) cannot change it halfway.
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'full' },
    only: { type: 'string', default: '' },
    results: { type: 'string', default: path.join(root, 'chaos', 'results') },
    // Node 20's parseArgs has no --no-<flag> negation: the flag is its own option.
    'no-snapshot': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'usage: npm run chaos -- [--profile short|full] [--only name,...] [--results DIR] [--no-snapshot]',
  );
  process.exit(0);
}
if (!['short', 'full'].includes(values.profile)) {
  console.error(`--profile must be short or full (got '${values.profile}')`);
  process.exit(2);
}
let snapshot = null;
if (!values['no-snapshot']) {
  snapshot = mkdtempSync(path.join(os.tmpdir(), 'chaos-dist-'));
  cpSync(path.join(root, 'dist'), path.join(snapshot, 'dist'), { recursive: true });
  copyFileSync(path.join(root, 'package.json'), path.join(snapshot, 'package.json'));
  symlinkSync(path.join(root, 'node_modules'), path.join(snapshot, 'node_modules'));
}
const child = spawn(
  process.execPath,
  [
    path.join(root, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
    'test/chaos.test.ts',
    '--reporter=verbose',
    '--disableConsoleIntercept',
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      CHAOS_PROFILE: values.profile,
      CHAOS_ONLY: values.only,
      CHAOS_RESULTS_DIR: path.resolve(values.results),
      ...(snapshot && { CHAOS_CLI: path.join(snapshot, 'dist', 'cli.js') }),
    },
  },
);
// Ctrl-C reaches vitest too (same process group); its scenarios clean up in their finally blocks.
child.on('exit', (code, signal) => {
  if (snapshot) rmSync(snapshot, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
