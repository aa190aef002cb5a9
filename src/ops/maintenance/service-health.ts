import { parseArgs } from 'node:util';
import type { Config } from '../../kernel/config.js';
import { foreignAnswer, probeHealth } from '../../kernel/health-probe.js';
import { isUp } from '../supervisor/background.js';
import { control } from '../supervisor/control.js';
import { processSpecs } from '../supervisor/specs.js';
import type { ProcessStatus } from '../supervisor/supervisor.js';
import { UsageError, withUsage } from './args.js';

export interface HealthCheckBody {
  status: string;
  detail?: string;
  [extra: string]: unknown;
}

/** One service as `tradingsystem health` found it. */
export interface ServiceHealth {
  service: string;
  url: string;
  httpStatus: number | null;
  status: 'ok' | 'degraded' | 'down';
  /** Its checks that are not ok, and anything else wrong, one line each. */
  failing: string[];
  /** The service's own checks, as its /health reported them. */
  checks: Record<string, HealthCheckBody>;
  /** The pid that answered, when it said. */
  pid: number | null;
}

const PROBE_TIMEOUT_MS = 3_000;

/**
 * Probes every configured service's `/health` and, when the supervisor runs, cross-checks its
 * view: a port can answer while our process is down (a crash loop, another program on the port),
 * and then the service is not ok. One probe for `health` and `health-check`.
 */
export async function probeServices(config: Config): Promise<ServiceHealth[]> {
  const specs = processSpecs(config);
  const supervised = await control<{ processes: ProcessStatus[] }>(config.home, 'GET', '/status').catch(
    () => null,
  );
  return Promise.all(
    specs.map(async (s): Promise<ServiceHealth> => {
      const url = `http://${s.host}:${s.port}${s.healthPath}`;
      const proc = supervised?.processes.find((p) => p.name === s.name);
      const notRunning =
        proc && !isUp(proc) && proc.state !== 'unhealthy'
          ? [`supervisor: ${proc.state}${proc.detail ? ` (${proc.detail})` : ''}`]
          : [];
      const r = await probeHealth(url, PROBE_TIMEOUT_MS);
      if (r.httpStatus === null)
        return {
          service: s.name,
          url,
          httpStatus: null,
          status: 'down',
          failing: [`unreachable: ${r.detail}`, ...notRunning],
          checks: {},
          pid: null,
        };
      const checks = (r.checks ?? {}) as Record<string, HealthCheckBody>;
      const failing = Object.entries(checks)
        .filter(([, c]) => c.status !== 'ok')
        .map(([n, c]) => `${n}: ${c.status}${c.detail ? ` (${c.detail})` : ''}`);
      const stranger = foreignAnswer(s, proc?.pid, r.answeredBy);
      if (stranger) failing.push(stranger);
      failing.push(...notRunning);
      return {
        service: s.name,
        url,
        httpStatus: r.httpStatus,
        status: stranger || notRunning.length ? 'down' : r.status,
        failing,
        checks,
        pid: r.answeredBy.pid,
      };
    }),
  );
}

/** `tradingsystem health [--json]`: exit 0 only if every service is ok. */
export async function healthCommand(args: string[], config: Config): Promise<number> {
  return withUsage('health [--json]', async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: 'boolean' } },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const results = await probeServices(config);
    if (values.json)
      console.log(
        JSON.stringify(
          results.map(({ checks: _c, ...r }) => r),
          null,
          2,
        ),
      );
    else {
      for (const r of results) {
        console.log(
          `${r.service.padEnd(14)} ${r.status.padEnd(9)} ${r.url}${r.failing.length ? `  ${r.failing.join('; ')}` : ''}`,
        );
      }
    }
    return results.every((r) => r.status === 'ok') ? 0 : 1;
  });
}
