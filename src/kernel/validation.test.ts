import { describe, expect, it } from 'vitest';
import { compileRequestValidator, nonFinitePath, parseInstant, tooDeep } from './validation.js';

describe('request validation', () => {
  it('finds non-finite numbers at any depth, iteratively', () => {
    expect(nonFinitePath({ a: 1, b: [1, { c: Number.POSITIVE_INFINITY }] })).toBe('/b/1/c');
    expect(nonFinitePath(JSON.parse('{"x":-1e309}'))).toBe('/x');
    expect(nonFinitePath({ a: Number.NaN })).toBe('/a');
    expect(nonFinitePath({ a: 1e308, b: 'Infinity' })).toBeNull();
  });

  it('refuses Infinity in a body and a coerced query, naming the field', () => {
    const body = compileRequestValidator({ type: 'object', properties: { n: { type: 'number' } } }, false);
    expect(body({ n: Number.POSITIVE_INFINITY })).toBe(false);
    expect(body.errors?.[0]).toMatchObject({ instancePath: '/n', message: 'must be a finite number' });
    expect(body({ n: 5 })).toBe(true);
    const query = compileRequestValidator({ type: 'object', properties: { n: { type: 'integer' } } }, true);
    const q = { n: '1e309' };
    expect(query(q)).toBe(false);
    expect(query.errors?.[0]?.instancePath).toBe('/n');
    expect(query({ n: 'Infinity' })).toBe(false);
    expect(query({ n: '12' })).toBe(true);
  });

  it('finds JSON nested too deep before parsing, naming the top-level field', () => {
    expect(tooDeep(`{"ok":1,"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}`)).toMatchObject({ field: 'a' });
    expect(tooDeep(`${'['.repeat(40)}${']'.repeat(40)}`)?.field).toBe('(root)');
    expect(tooDeep('{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[","b":{"c":[1,2]}}')).toBeNull();
    expect(tooDeep('{"a\\"{":{"b":1}}', 1)).toMatchObject({ field: 'a"{' });
  });

  it('parses query instants in 1970..9999 only', () => {
    expect(parseInstant('from', '2026-01-01T00:00:00Z')).toBe(Date.UTC(2026, 0, 1));
    expect(parseInstant('from', '0')).toBe(0);
    expect(() => parseInstant('from', '-010000-01-01T00:00:00Z')).toThrow(/from must be between/);
    expect(() => parseInstant('to', 'soon')).toThrow(/to must be ISO-8601/);
  });
});
