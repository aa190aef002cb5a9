import MiniSearch, { type SearchResult } from 'minisearch';

export interface Searchable {
  slug: string;
  title: string;
  summary: string;
  tags: string[];
  text: string;
}

export interface Hit {
  slug: string;
  title: string;
  score: number;
  snippet: string;
}

const SNIPPET_CHARS = 160;

/** Case- and accent-insensitive terms, so `execucao` finds `execução`. */
export const fold = (s: string): string => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

export type SearchIndex = MiniSearch<Searchable>;

export function buildIndex(docs: readonly Searchable[]): SearchIndex {
  const index = new MiniSearch<Searchable>({
    idField: 'slug',
    fields: ['title', 'summary', 'tags', 'text'],
    extractField: (doc, field) => {
      const value = doc[field as keyof Searchable];
      return Array.isArray(value) ? value.join(' ') : value;
    },
    processTerm: (term) => fold(term),
    searchOptions: { boost: { title: 3, tags: 2, summary: 1.5 }, prefix: true, fuzzy: 0.2 },
  });
  index.addAll(docs);
  return index;
}

/** Ranked hits, best first, each with a snippet of the body around the first matching word. */
export function search(
  index: SearchIndex,
  page: (slug: string) => { title: string; text: string } | undefined,
  query: string,
  limit: number,
): Hit[] {
  return index
    .search(query)
    .slice(0, limit)
    .flatMap((result: SearchResult) => {
      const slug = String(result.id);
      const doc = page(slug);
      if (!doc) return [];
      const score = Math.round(result.score * 1000) / 1000;
      return [{ slug, title: doc.title, score, snippet: snippet(doc.text, result.terms) }];
    });
}

/** About SNIPPET_CHARS of `text` around the earliest word starting with one of `terms`. */
export function snippet(text: string, terms: readonly string[], size = SNIPPET_CHARS): string {
  const at = firstMatch(text, terms);
  if (text.length <= size) return text;
  let start = Math.max(0, Math.min(at - Math.floor(size / 3), text.length - size));
  let end = start + size;
  // Cut at spaces so the snippet does not open or close on half a word.
  if (start > 0) {
    const space = text.indexOf(' ', start);
    if (space !== -1 && space < at) start = space + 1;
  }
  if (end < text.length) {
    const space = text.lastIndexOf(' ', end);
    if (space > at) end = space;
  }
  return `${start > 0 ? '…' : ''}${text.slice(start, end).trim()}${end < text.length ? '…' : ''}`;
}

/** Index in `text` of the earliest word that starts with a (folded) term; 0 when none does. */
function firstMatch(text: string, terms: readonly string[]): number {
  const { folded, origin } = foldWithOrigin(text);
  let best = -1;
  for (const term of terms) {
    if (!term) continue;
    const re = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(term)}`, 'u');
    const found = re.exec(folded)?.index ?? -1;
    if (found !== -1 && (best === -1 || found < best)) best = found;
  }
  return best === -1 ? 0 : (origin[best] ?? 0);
}

// Folding a page is costly and pages change only on reload: keep the folded forms of recent pages.
const foldedPages = new Map<string, { folded: string; origin: number[] }>();
const FOLDED_PAGES_KEPT = 1_000;

// Folding can change lengths (ß, ligatures); keep where each folded unit came from.
function foldWithOrigin(text: string): { folded: string; origin: number[] } {
  const cached = foldedPages.get(text);
  if (cached) return cached;
  if (foldedPages.size >= FOLDED_PAGES_KEPT) foldedPages.clear();
  const computed = foldChars(text);
  foldedPages.set(text, computed);
  return computed;
}

function foldChars(text: string): { folded: string; origin: number[] } {
  let folded = '';
  const origin: number[] = [];
  let i = 0;
  for (const ch of text) {
    const f = fold(ch);
    for (let k = 0; k < f.length; k++) origin.push(i);
    folded += f;
    i += ch.length;
  }
  return { folded, origin };
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
