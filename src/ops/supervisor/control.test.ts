import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isAlive } from './control.js';

describe('isAlive', () => {
  it('takes a killed process nobody has reaped yet (a zombie) for dead', async () => {
    // `sleep 0.1` is started by a shell that then becomes `sleep 5`, which never waits for it:
    // once it exits it stays a zombie until `sleep 5` ends.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const pid = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (d) => resolve(Number(String(d).trim()))),
      );
      expect(isAlive(pid), 'running').toBe(true);
      await new Promise((r) => setTimeout(r, 600));
      expect(isAlive(pid), 'exited, not reaped').toBe(false);
      expect(isAlive(parent.pid as number), 'its parent still runs').toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
