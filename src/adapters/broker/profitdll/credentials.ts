import { readFileSync } from 'node:fs';
import { secretFileExposure } from '../../../kernel/platform.js';

/** What DLLInitialize* and the order records take. Never logged, never in a response. */
export interface ProfitDllCredentials {
  activationKey: string;
  user: string;
  password: string;
  /** The routing (signature) password each order carries; only routing needs it. */
  routingPassword: string | null;
}

/** The names in the environment and in a credentials file. */
export const CREDENTIAL_NAMES = {
  activationKey: 'PROFITDLL_ACTIVATION_KEY',
  user: 'PROFITDLL_USER',
  password: 'PROFITDLL_PASSWORD',
  routingPassword: 'PROFITDLL_ROUTING_PASSWORD',
} as const;

/**
 * The login secrets from `file` (`NAME=value` lines, `#` comments) or else the environment. Read at
 * each login, so a changed password needs no restart. Errors name what is missing, never a value.
 */
export function readCredentials(
  file: string | undefined,
  routing: boolean,
  env: NodeJS.ProcessEnv = process.env,
): ProfitDllCredentials {
  const source = file ? fromFile(file) : env;
  const where = file ? `in ${file}` : 'in the environment';
  const get = (name: string, required: boolean): string | null => {
    const value = source[name]?.trim();
    if (value) return value;
    if (required) throw new Error(`ProfitDLL credentials: ${name} is not set ${where}`);
    return null;
  };
  return {
    activationKey: get(CREDENTIAL_NAMES.activationKey, true) as string,
    user: get(CREDENTIAL_NAMES.user, true) as string,
    password: get(CREDENTIAL_NAMES.password, true) as string,
    routingPassword: get(CREDENTIAL_NAMES.routingPassword, routing),
  };
}

function fromFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `ProfitDLL credentials file ${file} cannot be read (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  const exposure = secretFileExposure(file);
  if (exposure) throw new Error(`ProfitDLL credentials file ${exposure}`);
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const eq = trimmed.indexOf('=');
    if (eq > 0) values[trimmed.slice(0, eq).trim()] = trimmed.slice(eq + 1);
  }
  return values;
}
