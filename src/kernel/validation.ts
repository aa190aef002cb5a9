import { Ajv, type ErrorObject, type Options } from 'ajv';
import formatsModule from 'ajv-formats';

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
