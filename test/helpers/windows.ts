import { spawn, spawnSync } from 'node:child_process';
import { openSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';

/** Node for Windows under Wine: see test/fixtures/windows/runtime.mjs (shared with the bench). */
export interface WindowsRuntime {
  nodeExe: string;
  /** This checkout as Windows Node sees it: `dist/` and node_modules with the Windows builds added. */
  app: string;
  env: Record<string, string>;
}

export function windowsRuntime(): WindowsRuntime {
  const script = path.join(ROOT, 'test', 'fixtures', 'windows', 'runtime.mjs');
  const out = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 900_000 });
  if (out.status !== 0) throw new Error((out.stderr || out.stdout).trim().split('\n').slice(-3).join('\n'));
  return JSON.parse(out.stdout) as WindowsRuntime;
}

/** A Linux path as Windows programs under Wine see it (the Z: drive is /). */
export const winPath = (p: string) => `Z:${p.replaceAll('/', '\\')}`;

/**
 * Windows Node running our CLI under Wine. Its output goes to a file: Node for Windows under Wine
 * fails writing to a pipe (EBADF). Resolves with the exit code.
 */
export function runWindowsCli(rt: WindowsRuntime, args: string[], env: NodeJS.ProcessEnv, outFile: string) {
  const out = openSync(outFile, 'a');
  const child = spawn('wine', [rt.nodeExe, 'dist\\cli.js', ...args], {
    cwd: rt.app,
    env: { ...process.env, ...rt.env, ...env },
    stdio: ['ignore', out, out],
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { child, exited };
}
