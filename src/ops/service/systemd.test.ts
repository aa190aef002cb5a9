import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServiceLayout } from './layout.js';
import { systemdUnit } from './systemd.js';

const verify = (file: string) =>
  new Promise<string>((resolve) => {
    execFile('systemd-analyze', ['verify', file], (err, stdout, stderr) =>
      resolve(`${err ? `exit ${err.code}\n` : ''}${stdout}${stderr}`.trim()),
    );
  });

describe('systemdUnit', () => {
  it('quotes and escapes paths with spaces, % and $ so systemd reads them as written', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-unit-'));
    try {
      // A node reachable through an awkward path: systemd checks ExecStart's program exists.
      const odd = path.join(dir, 'Program Files', '50% $HOME');
      mkdirSync(odd, { recursive: true });
      symlinkSync(process.execPath, path.join(odd, 'node'));
      const layout: ServiceLayout = {
        name: 'tradingsystem',
        node: path.join(odd, 'node'),
        script: path.join(odd, 'cli.js'),
        workingDir: odd,
        home: path.join(odd, 'data'),
        configFile: path.join(odd, 'config "x".json'),
        user: '',
        watchdogSec: 0,
        startTimeoutSec: 240,
        stopTimeoutSec: 90,
      };
      const unit = systemdUnit(layout);
      expect(unit).toContain('%%');
      expect(unit).toContain('$$HOME');
      expect(unit).not.toContain('WatchdogSec');
      const file = path.join(dir, 'tradingsystem.service');
      writeFileSync(file, unit);
      expect(await verify(file)).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
