import { UsageError } from '../usage.js';

export { UsageError };

/**
 * Runs a command's body; bad input (a UsageError, or an unknown or malformed option from
 * `parseArgs`) prints the reason and the usage on stderr and answers 2.
 */
export async function withUsage(usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
      process.stderr.write(`${(err as Error).message}\nusage: tradingsystem ${usage}\n`);
      return 2;
    }
    throw err;
  }
}

/** A whole number option such as `--days 30`, naming the option when it is not one. */
export function wholeNumber(
  option: string,
  text: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${option} must be a whole number ${max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `>= ${min}`} (got '${text}')`,
    );
  }
  return n;
}
