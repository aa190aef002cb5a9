import Type from 'typebox';
import { notFound } from '../../kernel/errors.js';
import type { App, HealthCheckResult } from '../../kernel/service.js';
import { localDate } from '../../kernel/time.js';
import { DOMAINS, STATUSES } from './frontmatter.js';
import type { Doc, HandbookState } from './load.js';
import type { DocsMetrics } from './metrics.js';
import { search } from './search.js';
import { checkSlug } from './slug.js';

export interface RouteDeps {
  current: () => HandbookState;
  now: () => number;
  timezone: string;
  reviewMaxAgeDays: number;
  metrics: DocsMetrics;
}

const DAY_MS = 86_400_000;

const ListQuery = Type.Object(
  {
    domain: Type.Optional(Type.Enum(DOMAINS)),
    type: Type.Optional(Type.String({ minLength: 1 })),
    tag: Type.Optional(Type.String({ minLength: 1 })),
    status: Type.Optional(Type.Enum(STATUSES)),
  },
  { additionalProperties: false },
);

const SearchQuery = Type.Object(
  {
    // `\S`: a blank query is as missing as no query.
    q: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
    limit: Type.Integer({ minimum: 1, maximum: 50, default: 10 }),
  },
  { additionalProperties: false },
);

const SlugParams = Type.Object({ '*': Type.String() });

export function registerRoutes(app: App, deps: RouteDeps): void {
  app.get('/docs', { schema: { querystring: ListQuery } }, async (req) => {
    const { domain, type, tag, status } = req.query;
    const wanted = tag?.toLowerCase();
    const data = [...deps.current().docs.values()]
      .filter(
        ({ frontmatter: f }) =>
          (!domain || f.domain === domain) &&
          (!type || f.type === type) &&
          (!status || f.status === status) &&
          (!wanted || (f.tags ?? []).some((t) => t.toLowerCase() === wanted)),
      )
      .sort(bySidebarThenTitle)
      .map(entry);
    return { count: data.length, data };
  });

  app.get('/docs/search', { schema: { querystring: SearchQuery } }, async (req) => {
    const query = req.query.q.trim();
    const state = deps.current();
    const stop = deps.metrics.searchDuration.startTimer();
    const data = search(state.index, (slug) => pageOf(state.docs.get(slug)), query, req.query.limit);
    stop();
    deps.metrics.searches.inc();
    return { query, count: data.length, data };
  });

  app.get('/docs/health', async () => {
    const state = deps.current();
    return {
      invalid: state.invalid,
      stale: staleDocs(state, deps),
      reviewMaxAgeDays: deps.reviewMaxAgeDays,
      count: state.docs.size,
    };
  });

  // The router prefers static routes, so `/search` and `/health` never reach this wildcard.
  app.get('/docs/*', { schema: { params: SlugParams } }, async (req) => {
    const state = deps.current();
    const slug = checkSlug(req.params['*'], state.dir);
    const doc = state.docs.get(slug);
    if (!doc) throw notFound('document', slug);
    return { slug, frontmatter: doc.frontmatter, markdown: doc.markdown, html: doc.html };
  });
}

/** The `handbook` health check: degraded while the folder is missing or any page is invalid. */
export function handbookHealth(state: HandbookState): HealthCheckResult {
  const counts = { documents: state.docs.size, invalid: state.invalid.length };
  if (state.problem) return { status: 'degraded', detail: state.problem, ...counts };
  if (counts.invalid > 0) {
    const files = state.invalid.map((i) => i.file).join(', ');
    return { status: 'degraded', detail: `invalid frontmatter in ${files}`, ...counts };
  }
  return { status: 'ok', ...counts };
}

const pageOf = (doc: Doc | undefined) => doc && { title: doc.frontmatter.title, text: doc.text };

function entry({ slug, frontmatter: f }: Doc) {
  return {
    slug,
    title: f.title,
    domain: f.domain ?? null,
    type: f.type ?? null,
    tags: f.tags ?? [],
    status: f.status ?? null,
    summary: f.summary ?? null,
    last_review: f.last_review ?? null,
    sidebar_position: f.sidebar_position ?? null,
  };
}

// Pages without a position come after those with one.
function bySidebarThenTitle(a: Doc, b: Doc): number {
  const pa = a.frontmatter.sidebar_position ?? Number.POSITIVE_INFINITY;
  const pb = b.frontmatter.sidebar_position ?? Number.POSITIVE_INFINITY;
  if (pa !== pb) return pa < pb ? -1 : 1;
  return a.frontmatter.title.localeCompare(b.frontmatter.title) || a.slug.localeCompare(b.slug);
}

/** Pages whose last review is more than `reviewMaxAgeDays` local days ago, oldest first. */
function staleDocs(state: HandbookState, deps: RouteDeps) {
  const today = Date.parse(localDate(deps.timezone, deps.now()));
  return [...state.docs.values()]
    .flatMap(({ slug, frontmatter: { last_review } }) => {
      if (!last_review) return [];
      const ageDays = Math.round((today - Date.parse(last_review)) / DAY_MS);
      return ageDays > deps.reviewMaxAgeDays ? [{ slug, last_review, ageDays }] : [];
    })
    .sort((a, b) => b.ageDays - a.ageDays || a.slug.localeCompare(b.slug));
}
