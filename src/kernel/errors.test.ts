import { readdirSync, readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AppError, CODE, ERRORS, type ErrorCode, fail, isRiskCode, notFound } from './errors.js';

const SRC = fileURLToPath(new URL('..', import.meta.url));
const CODES = Object.keys(ERRORS) as ErrorCode[];

/** src/**\/*.ts outside the catalogue and the tests, relative to src. */
function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .map((f) => f.split(path.sep).join('/'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'kernel/errors.ts');
}

/** Every catalogue code written as a string in a file, once per time it is written. */
function codesWritten(file: string): ErrorCode[] {
  const text = readFileSync(path.join(SRC, file), 'utf8');
  return [...text.matchAll(/(['"])([A-Z][A-Z0-9_]{2,})\1/g)]
    .map((m) => m[2] as string)
    .filter((s): s is ErrorCode => Object.hasOwn(ERRORS, s));
}

describe('the error catalogue', () => {
  it('writes each code once', () => {
    const source = readFileSync(path.join(SRC, 'kernel/errors.ts'), 'utf8');
    const entries = [...source.matchAll(/^ {2}([A-Z][A-Z0-9_]+): \{/gm)].map((m) => m[1]);
    expect(entries).toHaveLength(new Set(entries).size);
    expect(entries.sort()).toEqual([...CODES].sort());
  });

  it('gives each code an error status and a message', () => {
    for (const code of CODES) {
      const { status, message } = ERRORS[code];
      expect(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`).toBe(true);
      expect(STATUS_CODES[status], `${code}: ${status}`).toBeDefined();
      expect(message.length, code).toBeGreaterThan(0);
    }
  });

  it('builds errors with the status, and the message of the catalogue or of the call site', () => {
    const byDefault = fail.NOT_SIMULATED();
    expect(byDefault).toBeInstanceOf(AppError);
    expect([byDefault.status, byDefault.toEnvelope()]).toEqual([
      409,
      { error: { code: 'NOT_SIMULATED', message: 'the broker is not the simulator' } },
    ]);
    expect(fail.TOO_MANY_AUTH_FAILURES({ retryAfterSeconds: 3 }).toEnvelope()).toEqual({
      error: {
        code: 'TOO_MANY_AUTH_FAILURES',
        message: 'too many failed authentications; try again later',
        details: { retryAfterSeconds: 3 },
      },
    });
    const own = fail.ORDER_CLOSED('order o-1 is FILLED', { status: 'FILLED' });
    expect([own.status, own.code, own.message, own.details]).toEqual([
      409,
      'ORDER_CLOSED',
      'order o-1 is FILLED',
      { status: 'FILLED' },
    ]);
    expect(notFound('idea', 'i-1').toEnvelope()).toEqual({
      error: { code: 'NOT_FOUND', message: "idea 'i-1' not found", details: { id: 'i-1' } },
    });
  });

  it('names each code as a value, and knows the risk codes', () => {
    for (const code of CODES) expect(CODE[code]).toBe(code);
    expect(isRiskCode('RISK_KILL_SWITCH')).toBe(true);
    expect(isRiskCode('RISK_NO_SUCH_CHECK')).toBe(false);
    expect(isRiskCode('VALIDATION_ERROR')).toBe(false);
    expect(isRiskCode(undefined)).toBe(false);
  });
});

describe('a code is written only in the catalogue', () => {
  it('is not written in src/ outside it', () => {
    const written = sourceFiles()
      .filter((f) => !f.startsWith('domain/'))
      .flatMap((f) => codesWritten(f).map((code) => `${f}: ${code}`));
    expect(written).toEqual([]);
  });

  it('is written at most once in the domain, which may import only the catalogue types to check it', () => {
    const written = sourceFiles()
      .filter((f) => f.startsWith('domain/'))
      .flatMap((f) => codesWritten(f).map((code) => ({ code, file: f })));
    const twice = written.filter((w, i) => written.findIndex((o) => o.code === w.code) !== i);
    expect(twice).toEqual([]);
  });
});
