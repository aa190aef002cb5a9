import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenSigner } from './tokens.js';

const home = () => mkdtempSync(path.join(os.tmpdir(), 'ts-tokens-'));

describe('signed tokens', () => {
  it('verifies its own token for the same purpose until it expires', () => {
    let now = 1_000;
    const dir = home();
    const signer = TokenSigner.at(dir, () => now);
    const { token, claims } = signer.issue('abc', 'stream', 60_000);
    expect(signer.verify(token, 'stream')).toEqual(claims);
    expect(signer.verify(token, 'session')).toBeNull();
    // Another process with the same home shares the secret.
    expect(TokenSigner.at(dir, () => now).verify(token, 'stream')?.kid).toBe('abc');
    now += 60_000;
    expect(signer.verify(token, 'stream')).toBeNull();
    expect(statSync(path.join(dir, 'gateway', 'token-secret')).mode & 0o777).toBe(0o600);
  });

  it('refuses to sign with a secret file that is short or empty', () => {
    const dir = home();
    mkdirSync(path.join(dir, 'gateway'), { recursive: true });
    writeFileSync(path.join(dir, 'gateway', 'token-secret'), '');
    expect(() => TokenSigner.at(dir)).toThrow(/fewer than 32/);
  });

  it('refuses a tampered, truncated or foreign token', () => {
    const signer = TokenSigner.at(home());
    const { token } = signer.issue('abc', 'session', 60_000);
    const [body, mac] = token.split('.') as [string, string];
    const forged = Buffer.from(
      JSON.stringify({ kid: 'admin', purpose: 'session', exp: 9e15, nonce: 'x' }),
    ).toString('base64url');
    expect(signer.verify(`${forged}.${mac}`, 'session')).toBeNull();
    expect(signer.verify(body, 'session')).toBeNull();
    expect(signer.verify(`${body}.`, 'session')).toBeNull();
    expect(signer.verify('', 'session')).toBeNull();
    expect(TokenSigner.at(home()).verify(token, 'session')).toBeNull();
  });
});
