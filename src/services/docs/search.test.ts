import { describe, expect, it } from 'vitest';
import { buildIndex, type Searchable, search, snippet } from './search.js';

const filler = 'Lorem ipsum dolor sit amet consectetur. '.repeat(10);
const docs: Searchable[] = [
  {
    slug: 'body-only',
    title: 'Daily checklist',
    summary: '',
    tags: [],
    text: `${filler}Restart the broker.`,
  },
  { slug: 'in-title', title: 'Broker connection lost', summary: '', tags: ['incident'], text: 'Steps.' },
  { slug: 'accents', title: 'Execução de ordens', summary: '', tags: [], text: 'Como a ordem é executada.' },
];
const byslug = new Map(docs.map((d) => [d.slug, d]));
const run = (q: string) => search(buildIndex(docs), (slug) => byslug.get(slug), q, 10);

describe('search', () => {
  it('ranks a title match above a body match', () => {
    expect(run('broker').map((h) => h.slug)).toEqual(['in-title', 'body-only']);
  });

  it('finds by prefix, with typos and without accents', () => {
    expect(run('brok')[0]?.slug).toBe('in-title');
    expect(run('brocker')[0]?.slug).toBe('in-title');
    expect(run('execucao')[0]?.slug).toBe('accents');
  });

  it('gives a snippet around the matching word', () => {
    const hit = run('restart').find((h) => h.slug === 'body-only');
    expect(hit?.snippet).toContain('Restart the broker.');
    expect(hit?.snippet.startsWith('…')).toBe(true);
    expect(hit?.snippet.length).toBeLessThanOrEqual(162);
  });
});

describe('snippet', () => {
  it('returns short text whole and long text cut at word boundaries', () => {
    expect(snippet('short text', ['text'])).toBe('short text');
    const long = `${'alpha '.repeat(50)}needle ${'omega '.repeat(50)}`.trim();
    const cut = snippet(long, ['needle'], 60);
    expect(cut).toMatch(/^…(alpha )+needle( omega)+…$/);
  });

  it('matches accented words from folded terms', () => {
    expect(snippet(`${'x '.repeat(200)}A execução terminou`, ['execucao'], 40)).toContain('execução');
  });

  it('starts at the beginning when the body holds none of the terms', () => {
    expect(snippet(`first words ${'y '.repeat(200)}`, ['absent'], 20).startsWith('first words')).toBe(true);
  });
});
