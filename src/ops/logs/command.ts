import { parseArgs } from 'node:util';
import { type Config, SERVICE_NAMES } from '../../kernel/config.js';
import { UsageError, withUsage } from '../maintenance/args.js';
import {
  formatRecord,
  type LogQuery,
  LogReader,
  type LogRecord,
  logServices,
  parseLevel,
  parseSince,
} from './search.js';

const USAGE = 'logs [--service S[,S2]] [--level L] [--since 1h|ISO] [--grep TEXT] [--follow] [--json]';

/** `tradingsystem logs`: every service's JSONL logs merged by time, filtered, and tailed with --follow. */
export async function logsCommand(args: string[], config: Config): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        service: { type: 'string', multiple: true },
        level: { type: 'string' },
        since: { type: 'string' },
        grep: { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
        json: { type: 'boolean' },
      },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const services = (values.service ?? [])
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter(Boolean);
    // Any service that has logs, or could have: a name known to neither is a typo.
    const known = [
      ...new Set([
        ...SERVICE_NAMES,
        'supervisor',
        ...config.supervisor.extra.map((p) => p.name),
        ...logServices(config.home),
      ]),
    ];
    const unknown = services.find((s) => !known.includes(s));
    if (unknown) throw new UsageError(`--service '${unknown}' is not a service (known: ${known.join(', ')})`);
    if (values.grep !== undefined && !values.grep) throw new UsageError('--grep needs a text');
    const query: LogQuery = {
      services,
      ...(values.level !== undefined && { level: parseLevel(values.level) }),
      ...(values.since !== undefined && { since: parseSince(values.since, Date.now()) }),
      ...(values.grep !== undefined && { grep: values.grep }),
    };
    const print = (r: LogRecord) =>
      process.stdout.write(`${values.json ? r.line : formatRecord(r, config.timezone)}\n`);
    // A closed pipe (`| head`) ends the command quietly.
    process.stdout.on('error', () => process.exit(0));
    const reader = new LogReader(config.home, config.timezone, query);
    for await (const r of reader.history()) print(r);
    if (!values.follow) return 0;
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      for await (const batch of reader.follow(stop.signal)) for (const r of batch) print(r);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return 0;
  });
}
