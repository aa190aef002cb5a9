import { describe, expect, it } from 'vitest';
import { AppError } from '../../kernel/errors.js';
import { checkSlug } from './slug.js';

const ROOT = '/srv/handbook';

function codeOf(slug: string): string | undefined {
  try {
    checkSlug(slug, ROOT);
    return undefined;
  } catch (err) {
    return err instanceof AppError ? `${err.status} ${err.code}` : String(err);
  }
}

describe('checkSlug', () => {
  it('accepts plain and nested slugs', () => {
    expect(checkSlug('runbooks/broker-connection-lost', ROOT)).toBe('runbooks/broker-connection-lost');
    expect(checkSlug('intro', ROOT)).toBe('intro');
  });

  // What the router hands over after its own single decoding.
  it.each([
    ['..', 'a parent segment alone'],
    ['../secret', 'a parent segment'],
    ['runbooks/../../secret', 'a parent segment in the middle'],
    ['/etc/passwd', 'a leading slash'],
    ['a\\..\\b', 'backslashes'],
    ['intro\0.md', 'a NUL byte'],
    ['%2e%2e%2fsecret', 'a double-encoded parent segment'],
    ['%252e%252e%252fsecret', 'a triple-encoded parent segment'],
    ['%2Fetc%2Fpasswd', 'an encoded leading slash'],
    ['..%5csecret', 'an encoded backslash'],
    ['intro%00', 'an encoded NUL'],
    ['C:/Windows/win.ini', 'a drive letter'],
    ['a//b', 'an empty segment'],
    ['./intro', 'a dot segment'],
    ['', 'nothing'],
  ])('refuses %j (%s) with 400 INVALID_SLUG', (slug) => {
    expect(codeOf(slug)).toBe('400 INVALID_SLUG');
  });
});
