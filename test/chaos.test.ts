import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { newReport, summary, writeReport } from '../chaos/lib/results.js';
import { type Profile, runScenario, type ScenarioResult } from '../chaos/lib/scenario.js';
import { selectScenarios } from '../chaos/registry.js';

/**
 * The chaos suite (chaos/, handbook: docs/ops/reliability.md). In `npm test` it runs the short
 * profile; `npm run chaos` runs this file with CHAOS_PROFILE=full (or --only) and keeps the results
 * in chaos/results/. A scenario that cannot run fails; none is ever skipped.
 */
const profile = (process.env.CHAOS_PROFILE ?? 'short') as Profile;
const only = (process.env.CHAOS_ONLY ?? '').split(',').filter(Boolean);
const resultsDir = process.env.CHAOS_RESULTS_DIR || mkdtempSync(`${os.tmpdir()}/chaos-results-`);
const scenarios = selectScenarios(profile, only);
const results: ScenarioResult[] = [];
const startedAt = Date.now();

describe(`chaos suite, ${profile} profile`, () => {
  afterAll(() => {
    const report = newReport(profile, startedAt, results);
    const file = writeReport(resultsDir, report);
    console.log(`${summary(report)}\nresults: ${file}`);
  });

  it('has scenarios to run', () => {
    expect(scenarios.length).toBeGreaterThan(0);
  });

  for (const scenario of scenarios) {
    it(
      `${scenario.name}: ${scenario.title}`,
      async () => {
        const result = await runScenario(scenario, profile, (line) => console.log(line));
        results.push(result);
        const failed = result.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.detail}`);
        expect(
          result.error ? [`error: ${result.error}`, ...failed] : failed,
          `${scenario.name} failed`,
        ).toEqual([]);
        expect(result.status).toBe('pass');
      },
      scenario.budgetMs(profile) + 60_000,
    );
  }
});
