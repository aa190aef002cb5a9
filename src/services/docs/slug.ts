import path from 'node:path';
import { fail } from '../../kernel/errors.js';

// The router decodes once; a slug that still decodes is checked again at each level.
const MAX_DECODES = 3;

/**
 * Refuses a requested slug that could name a path outside the handbook (`..`, a leading `/`, a
 * backslash, NUL, a drive letter, or any of these percent-encoded) with 400 INVALID_SLUG. The slug
 * is then only a key into the loaded index; no file is read from it.
 */
export function checkSlug(raw: string, root: string): string {
  for (const form of decodings(raw)) {
    const problem = problemOf(form, root);
    if (problem) throw fail.INVALID_SLUG(`slug ${problem}`, { slug: raw });
  }
  return raw;
}

function decodings(raw: string): string[] {
  const forms = [raw];
  let current = raw;
  for (let i = 0; i < MAX_DECODES && current.includes('%'); i++) {
    try {
      const next = decodeURIComponent(current);
      if (next === current) break;
      forms.push(next);
      current = next;
    } catch {
      break; // a stray `%` that is not an escape: nothing more to decode
    }
  }
  return forms;
}

function problemOf(slug: string, root: string): string | undefined {
  if (slug.length === 0) return 'is empty';
  if (slug.includes('\0')) return 'contains a NUL byte';
  if (slug.includes('\\')) return 'contains a backslash';
  if (slug.startsWith('/') || /^[A-Za-z]:/.test(slug)) return 'must be relative';
  const segments = slug.split('/');
  if (segments.includes('..')) return 'contains a .. segment';
  if (segments.some((s) => s === '' || s === '.')) return 'contains an empty or . segment';
  const resolved = path.resolve(root, `${slug}.md`);
  if (!resolved.startsWith(root + path.sep)) return 'resolves outside the handbook folder';
  return undefined;
}
