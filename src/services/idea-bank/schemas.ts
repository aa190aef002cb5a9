import Type, { type Static } from 'typebox';
import { IDEA_CATEGORIES, IDEA_PRIORITIES, IDEA_STATUSES } from '../../domain/ideas.js';
import { IDEMPOTENCY_HEADER, IdempotencyKey } from './idempotency.js';

// Text must hold something besides spaces; it is stored trimmed.
const Title = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Description = Type.String({ minLength: 1, maxLength: 10_000, pattern: '\\S' });
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 30 });
const Category = Type.Enum([...IDEA_CATEGORIES]);
const Priority = Type.Enum([...IDEA_PRIORITIES]);
const Status = Type.Enum([...IDEA_STATUSES]);

export const IdeaSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    title: Title,
    description: Description,
    category: Category,
    priority: Priority,
    status: Status,
    tags: Tags,
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

export const CreateIdeaBody = Type.Object(
  {
    title: Title,
    description: Description,
    category: Category,
    priority: Type.Optional(Priority),
    // Accepted for clients of the original API; every idea starts in `new`.
    status: Type.Optional(Type.Enum(['new'])),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type CreateIdea = Static<typeof CreateIdeaBody>;

/** Headers are lower case here; other headers pass. */
export const CreateIdeaHeaders = Type.Object({ [IDEMPOTENCY_HEADER]: Type.Optional(IdempotencyKey) });

export const UpdateIdeaBody = Type.Object(
  {
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    category: Type.Optional(Category),
    priority: Type.Optional(Priority),
    status: Type.Optional(Status),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateIdea = Static<typeof UpdateIdeaBody>;

export const SORT_FIELDS = ['createdAt', 'updatedAt', 'priority', 'title', 'status'] as const;

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Status),
    category: Type.Optional(Category),
    priority: Type.Optional(Priority),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
    sort: Type.Enum([...SORT_FIELDS, ...SORT_FIELDS.map((f) => `-${f}`)], { default: '-createdAt' }),
  },
  { additionalProperties: false },
);
export type ListIdeas = Static<typeof ListQuery>;

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
