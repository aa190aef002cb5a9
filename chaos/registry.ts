import type { Profile, Scenario } from './lib/scenario.js';
import { disconnects, killBeforeClose, stallAcrossClose } from './scenarios/broker.js';
import { crashLoopDataCapture, crashLoopOrderManager } from './scenarios/crash-loop.js';
import { diskFull, readOnlyHome, readOnlyJournal } from './scenarios/disk.js';
import {
  corruptCheckpoint,
  corruptKeys,
  corruptNewestSegment,
  corruptOldSegment,
  corruptParquet,
  corruptSubscriptions,
  ordersDbEmpty,
  ordersDbMissing,
} from './scenarios/files.js';
import { hungService, killEach, supervisorFrozen, supervisorKilled } from './scenarios/kills.js';
import { malformed } from './scenarios/malformed.js';
import { midnight } from './scenarios/midnight.js';
import { overloadRestart } from './scenarios/overload.js';

/**
 * Every scenario, in run order. `short` (inside `npm test`): one representative per finding and the
 * cheapest invariants, within 10 minutes on the 2-core CI host; `full` (`npm run chaos`): all, longer.
 */
export const SCENARIOS: Scenario[] = [
  killEach,
  hungService,
  supervisorFrozen,
  supervisorKilled,
  killBeforeClose,
  stallAcrossClose,
  disconnects,
  diskFull,
  readOnlyJournal,
  readOnlyHome,
  crashLoopOrderManager,
  crashLoopDataCapture,
  overloadRestart,
  ordersDbEmpty,
  ordersDbMissing,
  corruptCheckpoint,
  corruptOldSegment,
  corruptNewestSegment,
  corruptParquet,
  corruptSubscriptions,
  corruptKeys,
  malformed,
  midnight,
];

export const PROFILES: Profile[] = ['short', 'full'];

/** The scenarios of a profile, or the named ones (any profile); an unknown name is an error. */
export function selectScenarios(profile: Profile, only: string[] = []): Scenario[] {
  if (!PROFILES.includes(profile)) throw new Error(`unknown profile '${profile}' (short or full)`);
  const names = new Set(SCENARIOS.map((s) => s.name));
  const unknown = only.filter((n) => !names.has(n));
  if (unknown.length)
    throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${[...names].join(', ')}`);
  return only.length
    ? SCENARIOS.filter((s) => only.includes(s.name))
    : SCENARIOS.filter((s) => s.profiles.includes(profile));
}
