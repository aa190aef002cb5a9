import { type AppError, type ErrorCode, fail } from './errors.js';
import type { App, ServiceContext } from './service.js';

/** The handbook page for a data file that cannot be used (journal, keys, subscriptions, checkpoint). */
export const DATA_FILE_RUNBOOK = 'runbooks/data-file-unusable';

/** A data file that exists but cannot be used: what it is and why. */
export interface UnusableFile {
  file: string;
  reason: string;
}

export interface UnusableOptions {
  /** The error code of the refused requests (a 503 in the catalogue), e.g. `JOURNAL_UNAVAILABLE`. */
  code: ErrorCode;
  /** The handbook page an operator follows, e.g. `runbooks/data-file-unusable`. */
  runbook: string;
  /** Logged with the error, e.g. `idea_bank.storage_unavailable`. */
  event: string;
  /** What answers call the file instead of its path, for a file whose place is not to be told (the keys). */
  shownAs?: string;
}

/**
 * The one way a service says a file it needs is unusable (corrupt, truncated, unreadable): it
 * stays up instead of crash-looping, leaves the file exactly as found for an operator, logs an
 * error, and reports the health check `down` with the file, the reason and the runbook. It returns the
 * refusal (503, the same reason) the caller answers the requests that need the file with (the order
 * manager's API plugin, for one, then has no routes and gives it to every request). Whatever does not
 * need the file goes on.
 */
export function reportUnusable(
  ctx: ServiceContext,
  check: string,
  problem: UnusableFile,
  opts: UnusableOptions,
): () => AppError {
  const { file, reason } = problem;
  ctx.logger.error(
    { event: opts.event, file, reason, runbook: opts.runbook },
    `${file} cannot be used; see the runbook`,
  );
  // The log has the path; an answer only what the file is called (the path may be in the reason too).
  const shown = opts.shownAs ?? file;
  const told = opts.shownAs ? reason.split(file).join(opts.shownAs) : reason;
  ctx.addHealthCheck(check, () => ({ status: 'down', detail: told, file: shown, runbook: opts.runbook }));
  return () =>
    fail[opts.code](`${shown} cannot be used: ${told}`, { file: shown, reason: told, runbook: opts.runbook });
}

/**
 * An API that cannot work without the file: `api` (its plugin's instance) registers no routes, and
 * its not-found handler answers every request under its prefix with the refusal.
 */
export function refuseEveryRequest(api: App, refusal: () => AppError): void {
  api.setNotFoundHandler(async () => {
    throw refusal();
  });
}
