import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, loadConfig } from './config.js';
import { ConfigError, SERVICE_NAMES } from './kernel/config.js';
import { dataCaptureConfig } from './services/data-capture/config.js';
import { docsConfig } from './services/docs/config.js';
import { gatewayConfig } from './services/gateway/config.js';
import { ideaBankConfig } from './services/idea-bank/config.js';
import { orderManagerConfig } from './services/order-manager/config.js';
import { streamConfig } from './services/stream/config.js';

const dir = () => mkdtempSync(path.join(os.tmpdir(), 'ts-config-'));

function writeConfig(content: unknown): { cwd: string; file: string } {
  const cwd = dir();
  const file = path.join(cwd, 'tradingsystem.config.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return { cwd, file };
}

function expectConfigError(fn: () => unknown, key: string): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe(key);
    expect((err as ConfigError).message).toContain(key);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('composes each service section from the service’s own config.ts, in SERVICE_NAMES order', () => {
    const sections = (ConfigSchema.properties.services as unknown as { properties: Record<string, unknown> })
      .properties;
    expect(Object.keys(sections)).toEqual([...SERVICE_NAMES]);
    expect(sections).toEqual({
      'data-capture': dataCaptureConfig.schema,
      'order-manager': orderManagerConfig.schema,
      stream: streamConfig.schema,
      gateway: gatewayConfig.schema,
      'idea-bank': ideaBankConfig.schema,
      docs: docsConfig.schema,
    });
  });

  it('keeps every default, and the order of the keys, as they were (a change shows in the snapshot)', () => {
    const cwd = dir();
    const text = JSON.stringify(loadConfig({ env: {}, cwd }), null, 1)
      .split(cwd)
      .join('<cwd>');
    expect(text).toMatchSnapshot();
  });

  it('has the ops summary defaults with no file and no env', () => {
    const cwd = dir();
    const c = loadConfig({ env: {}, cwd });
    expect(c.home).toBe(path.join(cwd, 'data'));
    expect(c.timezone).toBe('America/Sao_Paulo');
    expect(Object.fromEntries(Object.entries(c.services).map(([k, v]) => [k, v.port]))).toEqual({
      'data-capture': 5050,
      'order-manager': 5055,
      stream: 9001,
      gateway: 8000,
      'idea-bank': 3200,
      docs: 3300,
    });
    expect(Object.values(c.services).every((s) => s.host === '127.0.0.1')).toBe(true);
    expect(c.log.retentionDays).toBe(30);
    expect(c.supervisor.backoffInitialMs).toBe(1000);
    expect(c.supervisor.backoffMaxMs).toBe(60_000);
    expect(c.supervisor.crashLoopMax).toBe(5);
    expect([c.supervisor.metricsHost, c.supervisor.metricsPort]).toEqual(['127.0.0.1', 5099]);
  });

  it('refuses a supervisor metrics port a service uses, unless the listener is off (0)', () => {
    const clash = expectConfigError(
      () => loadConfig({ env: {}, cwd: writeConfig({ supervisor: { metricsPort: 5050 } }).cwd }),
      'supervisor.metricsPort',
    );
    expect(clash.message).toContain('services.data-capture.port');
    expect(
      loadConfig({ env: {}, cwd: writeConfig({ supervisor: { metricsPort: 0 } }).cwd }).supervisor
        .metricsPort,
    ).toBe(0);
  });

  it('reads tradingsystem.config.json from the working directory, keeping defaults for the rest', () => {
    const { cwd } = writeConfig({ services: { gateway: { port: 8100 } }, log: { level: 'debug' } });
    const c = loadConfig({ env: {}, cwd });
    expect(c.services.gateway.port).toBe(8100);
    expect(c.services.gateway.host).toBe('127.0.0.1');
    expect(c.services.docs.port).toBe(3300);
    expect(c.log.level).toBe('debug');
  });

  it('reads the file named by TRADINGSYSTEM_CONFIG and the home from TRADINGSYSTEM_HOME', () => {
    const { file } = writeConfig({ timezone: 'UTC' });
    const c = loadConfig({ env: { TRADINGSYSTEM_CONFIG: file, TRADINGSYSTEM_HOME: '/srv/ts' }, cwd: dir() });
    expect(c.timezone).toBe('UTC');
    expect(c.home).toBe('/srv/ts');
  });

  it('lets the environment override the file', () => {
    const { cwd } = writeConfig({ services: { 'idea-bank': { port: 3201 } } });
    const c = loadConfig({
      env: {
        TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: '3299',
        TRADINGSYSTEM__SERVICES__GATEWAY__HOST: '0.0.0.0',
        TRADINGSYSTEM__LOG__LEVEL: 'warn',
      },
      cwd,
    });
    expect(c.services['idea-bank'].port).toBe(3299);
    expect(c.services.gateway.host).toBe('0.0.0.0');
    expect(c.log.level).toBe('warn');
  });

  it('rejects a bad value naming the key', () => {
    const { cwd } = writeConfig({ services: { gateway: { port: 70000 } } });
    expectConfigError(() => loadConfig({ env: {}, cwd }), 'services.gateway.port');
    expectConfigError(
      () => loadConfig({ env: { TRADINGSYSTEM__SERVICES__DOCS__PORT: 'abc' }, cwd: dir() }),
      'services.docs.port',
    );
    expectConfigError(
      () => loadConfig({ env: { TRADINGSYSTEM__LOG__LEVEL: 'loud' }, cwd: dir() }),
      'log.level',
    );
  });

  it('rejects unknown keys, unknown env keys, unknown or half-hour zones, broken JSON and clashing ports', () => {
    expectConfigError(() => loadConfig({ env: {}, cwd: writeConfig({ servces: {} }).cwd }), 'servces');
    expectConfigError(
      () => loadConfig({ env: { TRADINGSYSTEM__SERVICES__NOPE__PORT: '1' }, cwd: dir() }),
      'TRADINGSYSTEM__SERVICES__NOPE__PORT',
    );
    expectConfigError(
      () => loadConfig({ env: {}, cwd: writeConfig({ timezone: 'Mars/Olympus' }).cwd }),
      'timezone',
    );
    // Intraday bars are cut on UTC hours: a half-hour zone would shift them off its local hours.
    const halfHour = expectConfigError(
      () => loadConfig({ env: {}, cwd: writeConfig({ timezone: 'Asia/Kolkata' }).cwd }),
      'timezone',
    );
    expect(halfHour.message).toMatch(/whole number of hours/);
    const broken = writeConfig('{ "log": ');
    expectConfigError(() => loadConfig({ env: {}, cwd: broken.cwd }), broken.file);
    const clash = expectConfigError(
      () => loadConfig({ env: {}, cwd: writeConfig({ services: { docs: { port: 3200 } } }).cwd }),
      'services.idea-bank.port',
    );
    expect(clash.message).toContain('services.docs.port');
    expectConfigError(
      () => loadConfig({ env: { TRADINGSYSTEM_CONFIG: '/nonexistent.json' }, cwd: dir() }),
      'TRADINGSYSTEM_CONFIG',
    );
  });
});
