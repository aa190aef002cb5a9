import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import {
  INTERNAL_HEADER,
  INTERNAL_TOKEN_ENV,
  internalToken,
  internalTokenFile,
  issueInternalToken,
  RequestGuard,
} from './internal-auth.js';

const home = mkdtempSync(path.join(os.tmpdir(), 'ts-internal-auth-'));
const config = loadConfig({
  env: {
    TRADINGSYSTEM_HOME: home,
    TRADINGSYSTEM__SERVICES__GATEWAY__ALLOWED_HOSTS: '["desk.example", "alt.example:8443"]',
    TRADINGSYSTEM__SERVICES__GATEWAY__ALLOWED_ORIGINS: '["https://tool.example"]',
  },
  cwd: home,
});
const TOKEN = 'secret-token';
const internal = new RequestGuard(config, { token: TOKEN, frontDoor: false, host: '10.0.0.5' });
const front = new RequestGuard(config, { token: undefined, frontDoor: true, host: '127.0.0.1' });
const codeOf = (g: RequestGuard, headers: Record<string, string>, pathname = '/api/x', method = 'GET') =>
  g.check({ method, headers: { host: '127.0.0.1:5050', ...headers } }, pathname)?.code;

describe('RequestGuard', () => {
  it('requires the credential on an internal service, except GET /health and /metrics and client paths', () => {
    expect(codeOf(internal, {})).toBe('INTERNAL_CREDENTIAL_REQUIRED');
    expect(codeOf(internal, { [INTERNAL_HEADER]: 'secret-tokeN' })).toBe('INTERNAL_CREDENTIAL_REQUIRED');
    expect(codeOf(internal, { [INTERNAL_HEADER]: TOKEN })).toBeUndefined();
    expect(codeOf(internal, {}, '/health')).toBeUndefined();
    expect(codeOf(internal, {}, '/metrics')).toBeUndefined();
    expect(codeOf(internal, {}, '/health', 'POST')).toBe('INTERNAL_CREDENTIAL_REQUIRED');
    const stream = new RequestGuard(config, { token: TOKEN, frontDoor: false });
    stream.addClientPath('/ws');
    expect(codeOf(stream, {}, '/ws')).toBeUndefined();
  });

  it('drops x-actor and the role header from a request without the credential', () => {
    const headers: Record<string, string> = {
      host: 'localhost',
      'x-actor': 'me',
      'x-tradingsystem-role': 'admin',
    };
    internal.check({ method: 'GET', headers }, '/health');
    expect(headers).toEqual({ host: 'localhost' });
    const trusted: Record<string, string> = {
      host: 'localhost',
      'x-actor': 'key:a#1',
      [INTERNAL_HEADER]: TOKEN,
    };
    internal.check({ method: 'POST', headers: trusted }, '/api/orders');
    expect(trusted['x-actor']).toBe('key:a#1');
  });

  it('accepts only loopback names and the configured host', () => {
    const ok = { [INTERNAL_HEADER]: TOKEN };
    for (const host of ['127.0.0.1:5050', 'localhost', 'LOCALHOST:1', '[::1]:5050', '10.0.0.5:5050'])
      expect(codeOf(internal, { ...ok, host }), host).toBeUndefined();
    for (const host of ['evil.example:5050', '127.0.0.1.evil.example', '', 'desk.example'])
      expect(codeOf(internal, { ...ok, host }), host).toBe('HOST_NOT_ALLOWED');
  });

  it('refuses any Origin on an internal service; a client path takes the gateway pages', () => {
    const ok = { [INTERNAL_HEADER]: TOKEN };
    expect(codeOf(internal, { ...ok, origin: 'http://127.0.0.1:8000' })).toBe('ORIGIN_NOT_ALLOWED');
    const stream = new RequestGuard(config, { token: TOKEN, frontDoor: false });
    stream.addClientPath('/ws');
    const at = (origin: string) => codeOf(stream, { origin }, '/ws');
    expect(at('http://127.0.0.1:8000')).toBeUndefined();
    expect(at('http://localhost:8000')).toBeUndefined();
    expect(at('https://tool.example')).toBeUndefined();
    expect(at('http://desk.example:8000')).toBeUndefined();
    expect(at('http://127.0.0.1:3000')).toBe('ORIGIN_NOT_ALLOWED');
    expect(at('http://evil.example')).toBe('ORIGIN_NOT_ALLOWED');
    expect(at('null')).toBe('ORIGIN_NOT_ALLOWED');
  });

  it('the gateway: its hosts (allowedHosts too), its own origin and allowedOrigins', () => {
    expect(codeOf(front, { host: 'desk.example' })).toBeUndefined();
    expect(codeOf(front, { host: 'alt.example:8443' })).toBeUndefined();
    expect(codeOf(front, { host: 'alt.example:9000' })).toBe('HOST_NOT_ALLOWED');
    expect(codeOf(front, { host: 'desk.example', origin: 'http://desk.example' })).toBeUndefined();
    expect(codeOf(front, { host: 'desk.example', origin: 'https://tool.example' })).toBeUndefined();
    expect(codeOf(front, { host: 'desk.example', origin: 'http://desk.example:3000' })).toBe(
      'ORIGIN_NOT_ALLOWED',
    );
    expect(codeOf(front, { origin: 'http://127.0.0.1:5050' })).toBeUndefined();
    // Its own routes carry their own auth: no internal credential.
    expect(codeOf(front, {}, '/api/v1/orders', 'POST')).toBeUndefined();
  });
});

describe('the token', () => {
  it('is issued to a 0600 file; the environment wins over the file', () => {
    const h = mkdtempSync(path.join(os.tmpdir(), 'ts-internal-token-'));
    expect(internalToken(h, {})).toBeUndefined();
    const token = issueInternalToken(h);
    expect(statSync(internalTokenFile(h)).mode & 0o777).toBe(0o600);
    expect(internalToken(h, {})).toBe(token);
    expect(internalToken(h, { [INTERNAL_TOKEN_ENV]: 'from-env' })).toBe('from-env');
  });
});
