import Type, { type Static } from 'typebox';
import { parse as parseYaml } from 'yaml';
import { describe, strictAjv } from '../../kernel/validation.js';

export const DOMAINS = ['frontend', 'backend', 'ops', 'shared'] as const;
export const STATUSES = ['draft', 'active', 'deprecated'] as const;

/** The fields a handbook page may declare; unknown keys are refused so a typo cannot go unnoticed. */
export const FrontmatterSchema = Type.Object(
  {
    title: Type.String({ minLength: 1 }),
    sidebar_position: Type.Optional(Type.Number()),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    domain: Type.Optional(Type.Enum(DOMAINS)),
    type: Type.Optional(Type.String({ minLength: 1 })),
    summary: Type.Optional(Type.String()),
    status: Type.Optional(Type.Enum(STATUSES)),
    last_review: Type.Optional(Type.String({ format: 'date' })),
  },
  { additionalProperties: false },
);
export type Frontmatter = Static<typeof FrontmatterSchema>;

const validate = strictAjv.compile<Frontmatter>(FrontmatterSchema);

export type Parsed =
  | { ok: true; frontmatter: Frontmatter; body: string }
  | { ok: false; errors: string[]; body: string };

// An opening `---` line, the YAML (possibly empty), a closing `---` line.
const BLOCK = /^---[ \t]*\r?\n(?:([\s\S]*?)\r?\n)?---[ \t]*(?:\r?\n|$)/;

/** Splits a page into validated frontmatter and the markdown body after it. */
export function parsePage(source: string): Parsed {
  const text = source.replace(/^\uFEFF/, '');
  const match = BLOCK.exec(text);
  if (!match) {
    return {
      ok: false,
      errors: ['frontmatter is missing (the file must start with a --- block)'],
      body: text,
    };
  }
  const body = text.slice(match[0].length);
  let data: unknown;
  try {
    data = parseYaml(match[1] ?? '');
  } catch (err) {
    const firstLine = (err as Error).message.split('\n')[0] ?? 'parse error';
    return { ok: false, errors: [`frontmatter is not valid YAML: ${firstLine}`], body };
  }
  const checked = validateFrontmatter(data);
  return checked.ok ? { ok: true, frontmatter: checked.frontmatter, body } : { ...checked, body };
}

/** Validates parsed YAML; a YAML Date (unquoted `2024-05-01` under YAML 1.1) counts as that day. */
export function validateFrontmatter(
  data: unknown,
): { ok: true; frontmatter: Frontmatter } | { ok: false; errors: string[] } {
  if (data === null || data === undefined) return { ok: false, errors: ['frontmatter is empty'] };
  if (typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, errors: ['frontmatter must be a mapping of fields'] };
  }
  const fields = Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, value instanceof Date ? dayOf(value) : value]),
  );
  if (validate(fields)) return { ok: true, frontmatter: fields };
  return { ok: false, errors: (validate.errors ?? []).map((e) => describe(e).message) };
}

// An invalid Date stays a Date so the schema reports it instead of a made-up day.
const dayOf = (d: Date): string | Date => (Number.isNaN(d.getTime()) ? d : d.toISOString().slice(0, 10));
