import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCredentials } from './credentials.js';

const env = {
  PROFITDLL_ACTIVATION_KEY: 'k',
  PROFITDLL_USER: 'u',
  PROFITDLL_PASSWORD: 'p',
};

describe('ProfitDLL credentials', () => {
  it('come from the environment; routing needs its password too', () => {
    expect(readCredentials(undefined, false, env)).toEqual({
      activationKey: 'k',
      user: 'u',
      password: 'p',
      routingPassword: null,
    });
    expect(() => readCredentials(undefined, true, env)).toThrow(
      'ProfitDLL credentials: PROFITDLL_ROUTING_PASSWORD is not set in the environment',
    );
  });

  it('come from a file only its owner can read, and a missing one is named without any value', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-creds-'));
    const file = path.join(dir, 'creds');
    writeFileSync(
      file,
      '# desk 3\nPROFITDLL_ACTIVATION_KEY=key\nPROFITDLL_USER=me\nPROFITDLL_PASSWORD=a=b\n',
      {
        mode: 0o600,
      },
    );
    expect(readCredentials(file, false, {})).toMatchObject({ activationKey: 'key', password: 'a=b' });
    chmodSync(file, 0o644);
    expect(() => readCredentials(file, false, {})).toThrow(
      /may be read by group or others \(mode 0644\); chmod 600 it/,
    );
    expect(() => readCredentials(path.join(dir, 'none'), false, {})).toThrow(/cannot be read \(ENOENT\)/);
  });
});
