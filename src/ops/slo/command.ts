import { parseArgs } from 'node:util';
import { buildSloReport } from '../../adapters/slo-report.js';
import { defaultWindow, parseTime, renderSloText } from '../../domain/slo-report.js';
import type { Config } from '../../kernel/config.js';
import { UsageError, withUsage } from '../maintenance/args.js';

const USAGE = 'slo [--from ISO] [--to ISO] [--json]';

/** `tradingsystem slo`: every objective of the ops summary, measured, with its verdict and budget. */
export async function sloCommand(args: string[], config: Config): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const now = Date.now();
    const window = defaultWindow(config.timezone, now);
    for (const key of ['from', 'to'] as const) {
      const text = values[key];
      if (text === undefined) continue;
      const t = parseTime(text);
      if (!Number.isFinite(t))
        throw new UsageError(`--${key} must be an ISO-8601 time or epoch ms (got '${text}')`);
      window[key] = t;
    }
    if (window.to <= window.from) throw new UsageError('--to must be after --from');
    const report = await buildSloReport(config, window, now);
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderSloText(report));
    return 0;
  });
}
