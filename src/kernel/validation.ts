import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';
import { fail } from './errors.js';

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = formatsModule.default;

/**
 * One validator for everything: config files, request bodies, query strings.
 * Bodies are strict (no type coercion, unknown fields rejected by the schemas), and a number in
 * them must be finite (`1e999` parses as Infinity, which otherwise passes as an integer). Query
 * strings and path params arrive as text, so they are coerced; ajv's finite check does not work
 * with its coercion, so every number a query takes has a maximum (`1e999` is above it).
 */
export function createAjv(opts: Options = {}): Ajv {
  const ajv = new Ajv({
    allErrors: false,
    removeAdditional: false,
    strict: false,
    strictNumbers: !opts.coerceTypes,
    ...opts,
  });
  addFormats(ajv);
  return ajv;
}

export const strictAjv = createAjv({ coerceTypes: false, useDefaults: true });
export const coercingAjv = createAjv({ coerceTypes: 'array', useDefaults: true });

/** Deepest JSON a request body may nest: our deepest schema needs 4; parsers and validators recurse. */
export const MAX_JSON_DEPTH = 32;

/**
 * The path of the first non-finite number in a value (Infinity, -Infinity, NaN), or null. Iterative,
 * so a deep value cannot overflow the stack. `JSON.parse` turns `1e309` into Infinity, and ajv's
 * coercion turns the query text `1e309` or `Infinity` into it too, past `strictNumbers`.
 */
export function nonFinitePath(value: unknown): string | null {
  const stack: [unknown, string][] = [[value, '']];
  for (let steps = 0; stack.length > 0 && steps < 1_000_000; steps++) {
    const [v, at] = stack.pop() as [unknown, string];
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return at;
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push([v[i], `${at}/${i}`]);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v))
        stack.push([child, `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`]);
    }
  }
  return null;
}

/**
 * The validator every service uses for one part of a request: ajv, and no non-finite number, ever.
 * A body is checked before ajv (a clear "must be a finite number" rather than ajv's "must be
 * number"); a coerced part after ajv, since only coercion can make a number out of its text.
 */
export function compileRequestValidator(schema: object, coerced: boolean): ValidateFunction {
  const validate = (coerced ? coercingAjv : strictAjv).compile(schema);
  const finite = (data: unknown): boolean => {
    const at = nonFinitePath(data);
    if (at === null) return true;
    wrapped.errors = [
      {
        instancePath: at,
        schemaPath: '#/finite',
        keyword: 'finite',
        params: {},
        message: 'must be a finite number',
      },
    ];
    return false;
  };
  const wrapped = ((data: unknown) => {
    wrapped.errors = null;
    if (!coerced && !finite(data)) return false;
    if (!validate(data)) {
      wrapped.errors = validate.errors ?? null;
      return false;
    }
    return coerced ? finite(data) : true;
  }) as ValidateFunction;
  wrapped.errors = null;
  wrapped.schema = validate.schema;
  wrapped.schemaEnv = validate.schemaEnv;
  return wrapped;
}

/**
 * The first place a JSON text nests deeper than `max`, or null: the top-level field it is under
 * ('(root)' for a top-level array). A linear scan before `JSON.parse`, so nesting thousands deep
 * is refused as bad input instead of overflowing a recursive parser or validator downstream.
 */
export function tooDeep(text: string, max = MAX_JSON_DEPTH): { field: string; depth: number } | null {
  let depth = 0;
  let topKey: string | null = null;
  const rootIsObject = text[firstNonSpace(text)] === '{';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
      if (depth === 1 && rootIsObject) {
        let j = i + 1;
        while (j < text.length && /\s/.test(text[j] as string)) j++;
        if (text[j] === ':') topKey = safeKey(text.slice(start, i + 1));
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > max) return { field: topKey ?? '(root)', depth };
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return null;
}

const firstNonSpace = (text: string) => {
  let i = 0;
  while (i < text.length && /\s/.test(text[i] as string)) i++;
  return i;
};

function safeKey(quoted: string): string {
  try {
    return String(JSON.parse(quoted)).slice(0, 100) || '(root)';
  } catch {
    return '(root)';
  }
}

/** A field path in dotted form (`services.gateway.port`, `tags[2]`), naming the offending key. */
export function fieldOf(err: ErrorObject): string {
  const segments = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = err.params as Record<string, unknown>;
  if (err.keyword === 'required' && typeof params.missingProperty === 'string')
    segments.push(params.missingProperty);
  if (err.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    segments.push(params.additionalProperty);
  }
  return segments.reduce((path, s) => (/^\d+$/.test(s) ? `${path}[${s}]` : path ? `${path}.${s}` : s), '');
}

/** A sentence a user can act on: the field and what is wrong with it. */
export function describe(err: ErrorObject, prefix = ''): { field: string; message: string } {
  const field = [prefix, fieldOf(err)].filter(Boolean).join('.') || '(root)';
  const params = err.params as Record<string, unknown>;
  let what = err.message ?? 'is invalid';
  if (err.keyword === 'additionalProperties') what = 'is not a known field';
  else if (err.keyword === 'required') what = 'is required';
  else if (err.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    what = `must be one of ${params.allowedValues.join(', ')}`;
  }
  return { field, message: `${field} ${what}` };
}

/** The instants a query may name: 1970-01-01 to 9999-12-31 UTC, what ISO-8601 without a sign covers. */
export const MIN_INSTANT_MS = 0;
export const MAX_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * A query time (ISO-8601 or epoch milliseconds) as epoch ms, or a 400 naming the field. Outside the
 * supported range is refused too: `-010000-01-01` parses fine and silently matched nothing.
 */
export function parseInstant(field: string, text: string): number {
  const ms = /^\d{1,15}$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) {
    throw fail.VALIDATION_ERROR(`${field} must be ISO-8601 or epoch milliseconds`, {
      location: 'querystring',
      field,
      value: text.slice(0, 100),
    });
  }
  if (ms < MIN_INSTANT_MS || ms > MAX_INSTANT_MS) {
    throw fail.VALIDATION_ERROR(`${field} must be between 1970-01-01 and 9999-12-31 (UTC)`, {
      location: 'querystring',
      field,
      value: text.slice(0, 100),
    });
  }
  return ms;
}
