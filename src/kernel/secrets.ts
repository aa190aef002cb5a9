import { readFileSync } from 'node:fs';

/** Where a secret is: a file (read at each use, trimmed) or an environment variable. */
export interface SecretRef {
  file?: string;
  env?: string;
}

/** The secret, or an error naming where it was looked for (never what it is). */
export function readSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv = process.env): string {
  if (ref.file) {
    let text: string;
    try {
      text = readFileSync(ref.file, 'utf8').trim();
    } catch (err) {
      throw new Error(`${what} file ${ref.file} cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
    if (!text) throw new Error(`${what} file ${ref.file} is empty`);
    return text;
  }
  if (ref.env) {
    const v = env[ref.env]?.trim();
    if (!v) throw new Error(`${what} environment variable ${ref.env} is not set`);
    return v;
  }
  throw new Error(`${what}: no file or environment variable named`);
}
