import { randomUUID } from 'node:crypto';
import {
  canMove,
  foldText,
  IDEA_STATUSES,
  type Idea,
  KANBAN_MOVES,
  normalizeTags,
  PRIORITY_RANK,
} from '../../domain/ideas.js';
import { ROLE_HEADER } from '../../kernel/auth/role-header.js';
import { CODE, fail, notFound } from '../../kernel/errors.js';
import { Gauge } from '../../kernel/metrics.js';
import type { App, ServiceDefinition } from '../../kernel/service.js';
import { refuseEveryRequest, reportUnusable } from '../../kernel/unusable.js';
import { fingerprint, type NewIdeaFields, replay } from './idempotency.js';
import {
  CreateIdeaBody,
  CreateIdeaHeaders,
  IdParams,
  type ListIdeas,
  ListQuery,
  UpdateIdeaBody,
} from './schemas.js';
import { IdeaStore, ideaBytes, type Mutation, StoreWriteError, totalBytes } from './store.js';

export const IDEA_BANK_RUNBOOK = 'runbooks/idea-bank-down';

/** The idea bank (port 3200): trading ideas on a Kanban board, in the response shape of the original API. */
export const ideaBankService: ServiceDefinition = {
  name: 'idea-bank',
  async setup(ctx) {
    const { app, config, logger, metrics, clock, addHealthCheck } = ctx;
    const store = IdeaStore.at(config.home, clock);
    const state = await store.open();
    if (state.ready) addHealthCheck('storage', () => ({ status: 'ok', file: store.file, items: store.size }));
    const refusal = state.ready
      ? null
      : reportUnusable(
          ctx,
          'storage',
          { file: store.file, reason: state.reason },
          {
            code: CODE.IDEA_BANK_UNAVAILABLE,
            runbook: IDEA_BANK_RUNBOOK,
            event: 'idea_bank.storage_unavailable',
          },
        );

    new Gauge({
      name: 'tradingsystem_idea_bank_items',
      help: 'Ideas in the bank by Kanban status',
      labelNames: ['status'] as const,
      registers: [metrics.registry],
      collect() {
        const counts = Object.fromEntries(IDEA_STATUSES.map((s) => [s, 0]));
        for (const idea of store.all()) counts[idea.status] = (counts[idea.status] ?? 0) + 1;
        for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
      },
    });

    const save = async <R>(change: Mutation<R>): Promise<R> => {
      try {
        return await store.mutate(change);
      } catch (err) {
        if (err instanceof StoreWriteError) {
          logger.error({ event: 'idea_bank.write_failed', err: err.message }, 'ideas not saved');
          throw fail.STORAGE_WRITE_FAILED(err.message);
        }
        throw err;
      }
    };
    const now = () => new Date(clock.now()).toISOString();

    // The ceiling (finding 5): each change rewrites the whole file, so its count and size are capped,
    // and a trader may not fill it to the top. The role comes from the gateway (ROLE_HEADER); a
    // direct local call has none and gets the admin's caps.
    const caps = config.services['idea-bank'];
    const isTrader = (req: { headers: Record<string, unknown> }) => {
      const role = req.headers[ROLE_HEADER];
      return role === 'trader' || role === 'viewer';
    };
    const checkDescription = (req: { headers: Record<string, unknown> }, description?: string) => {
      if (description !== undefined && isTrader(req) && description.length > caps.traderMaxDescription) {
        throw fail.FIELD_TOO_LARGE(
          `description is longer than ${caps.traderMaxDescription} characters (a trader's limit)`,
          { location: 'body', field: 'description', max: caps.traderMaxDescription },
        );
      }
    };
    const checkRoom = (
      ideas: Map<string, Idea>,
      adding: Idea,
      replacing: Idea | undefined,
      trader: boolean,
    ) => {
      const maxIdeas = trader ? Math.min(caps.traderMaxIdeas, caps.maxIdeas) : caps.maxIdeas;
      if (!replacing && ideas.size + 1 > maxIdeas) {
        throw fail.IDEA_BANK_FULL(
          `the idea bank holds ${ideas.size} ideas, the most ${trader ? 'a trader may fill it to' : 'it keeps'} is ${maxIdeas}; delete or archive some first`,
          { ideas: ideas.size, maxIdeas },
        );
      }
      const bytes = totalBytes(ideas.values()) - (replacing ? ideaBytes(replacing) : 0) + ideaBytes(adding);
      if (bytes > caps.maxBytes) {
        throw fail.IDEA_BANK_FULL(
          `the idea bank would hold ${bytes} bytes, over its ceiling of ${caps.maxBytes}; delete some ideas first`,
          { bytes, maxBytes: caps.maxBytes },
        );
      }
    };

    // Sorting a thousand ideas on every read is the bulk of a list request: keep each order until a change.
    const sortedCache = new Map<string, { version: number; ideas: Idea[] }>();
    const sortedBy = (sort: string): Idea[] => {
      const cached = sortedCache.get(sort);
      if (cached?.version === store.version) return cached.ideas;
      const ideas = sortIdeas(store.all(), sort);
      sortedCache.set(sort, { version: store.version, ideas });
      return ideas;
    };

    // The API is one plugin under /api. Without its file it has no routes: its not-found handler
    // answers every request with the refusal.
    void app.register(
      async (api: App) => {
        if (refusal) return refuseEveryRequest(api, refusal);
        api.get('/items', { schema: { querystring: ListQuery } }, async (req) => {
          const { matching, page } = listIdeas(sortedBy(req.query.sort), req.query);
          return { success: true, count: page.length, total: matching, data: page };
        });

        api.get('/items/:id', { schema: { params: IdParams } }, async (req) => {
          const idea = store.get(req.params.id);
          if (!idea) throw notFound('idea', req.params.id);
          return { success: true, data: idea };
        });

        // With an Idempotency-Key, a retry answers the idea the first request created (200, as the
        // order manager answers a known clientOrderId); see idempotency.ts.
        api.post(
          '/items',
          { schema: { body: CreateIdeaBody, headers: CreateIdeaHeaders } },
          async (req, reply) => {
            const b = req.body;
            checkDescription(req, b.description);
            const trader = isTrader(req);
            const fields: NewIdeaFields = {
              title: b.title.trim(),
              description: b.description.trim(),
              category: b.category,
              priority: b.priority ?? 'medium',
              tags: normalizeTags(b.tags ?? []),
            };
            const key = req.headers['idempotency-key'];
            const request = key === undefined ? undefined : fingerprint(fields);
            // A retry of a committed create is answered from memory, without a write.
            const known = key === undefined ? undefined : store.keyRecord(key);
            if (known && request)
              return { success: true, data: replay(known, request, (id) => store.get(id)) };

            const at = now();
            const created: Idea = {
              id: randomUUID(),
              ...fields,
              status: 'new',
              createdAt: at,
              updatedAt: at,
            };
            const { idea, replayed } = await save((ideas, keys) => {
              if (key === undefined || request === undefined) {
                checkRoom(ideas, created, undefined, trader);
                ideas.set(created.id, created);
                return { idea: created, replayed: false };
              }
              // The same key may be in this batch already, or in the write that just ended.
              const pending = keys.get(key);
              if (pending) return { idea: replay(pending, request, (id) => ideas.get(id)), replayed: true };
              checkRoom(ideas, created, undefined, trader);
              ideas.set(created.id, created);
              keys.set(key, { key, ideaId: created.id, at, request });
              return { idea: created, replayed: false };
            });
            reply.status(replayed ? 200 : 201);
            return { success: true, data: idea };
          },
        );

        api.put('/items/:id', { schema: { params: IdParams, body: UpdateIdeaBody } }, async (req) => {
          const { id } = req.params;
          const changes = req.body;
          checkDescription(req, changes.description);
          const trader = isTrader(req);
          const updated = await save((ideas) => {
            const current = ideas.get(id);
            if (!current) throw notFound('idea', id);
            if (changes.status && !canMove(current.status, changes.status)) {
              const allowed = KANBAN_MOVES[current.status];
              throw fail.INVALID_TRANSITION(
                `an idea in '${current.status}' cannot move to '${changes.status}'; allowed: ${allowed.length ? allowed.join(', ') : 'none (final)'}`,
                { from: current.status, to: changes.status, allowed },
              );
            }
            const next: Idea = {
              ...current,
              ...(changes.title !== undefined && { title: changes.title.trim() }),
              ...(changes.description !== undefined && { description: changes.description.trim() }),
              ...(changes.category && { category: changes.category }),
              ...(changes.priority && { priority: changes.priority }),
              ...(changes.status && { status: changes.status }),
              ...(changes.tags && { tags: normalizeTags(changes.tags) }),
              updatedAt: now(),
            };
            checkRoom(ideas, next, current, trader);
            ideas.set(id, next);
            return next;
          });
          return { success: true, data: updated };
        });

        api.delete('/items/:id', { schema: { params: IdParams } }, async (req) => {
          const { id } = req.params;
          const removed = await save((ideas) => {
            const current = ideas.get(id);
            if (!current) throw notFound('idea', id);
            ideas.delete(id);
            return current;
          });
          return { success: true, data: removed };
        });
      },
      { prefix: '/api' },
    );
  },
};

/** The ideas in the order of a `sort` value: a field, descending with a leading `-`; ties by id. */
export function sortIdeas(all: Idea[], sort: string): Idea[] {
  const desc = sort.startsWith('-');
  const field = (desc ? sort.slice(1) : sort) as keyof Idea;
  const key = (i: Idea) => (field === 'priority' ? PRIORITY_RANK[i.priority] : String(i[field]));
  return [...all].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    const order = ka < kb ? -1 : ka > kb ? 1 : a.id < b.id ? -1 : 1;
    return desc ? -order : order;
  });
}

/** Filters and pages ideas already in the requested order, for `GET /api/items`. */
export function listIdeas(sorted: Idea[], query: ListIdeas): { matching: number; page: Idea[] } {
  const words = query.q ? foldText(query.q).split(/\s+/).filter(Boolean) : [];
  const tag = query.tag?.toLowerCase();
  const unfiltered = !query.status && !query.category && !query.priority && !tag && !words.length;
  const filtered = unfiltered
    ? sorted
    : sorted.filter(
        (i) =>
          (!query.status || i.status === query.status) &&
          (!query.category || i.category === query.category) &&
          (!query.priority || i.priority === query.priority) &&
          (!tag || i.tags.some((t) => t.toLowerCase() === tag)) &&
          (!words.length || words.every((w) => foldText(`${i.title} ${i.description}`).includes(w))),
      );
  return { matching: filtered.length, page: filtered.slice(query.offset, query.offset + query.limit) };
}
