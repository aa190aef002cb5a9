import {
  type GapRow,
  type OrderManagerSlo,
  reportSpan,
  type SloReport,
  type SloWindow,
  sloReport,
} from '../domain/slo-report.js';
import { type Config, SERVICE_NAMES } from '../kernel/config.js';
import { internalHeaders } from '../kernel/internal-auth.js';
import { firstRecordedMinute, readProbeRecords } from './storage/probe-store.js';

const HTTP_TIMEOUT_MS = 5_000;

/**
 * The SLO report of a window, read where its figures are kept: the supervisor's probe records in
 * the data home, and the order manager's and data-capture's own figures over HTTP. Here, below both
 * its readers (`tradingsystem slo` and the gateway's GET /api/v1/slo), so neither imports the other.
 */
export async function buildSloReport(
  config: Config,
  window: SloWindow,
  now = Date.now(),
): Promise<SloReport> {
  const span = reportSpan(window, firstRecordedMinute(config.home), now);
  const { from, to } = span;
  const records = readProbeRecords(config.home, config.timezone, from, to);
  const services = [
    ...SERVICE_NAMES.filter((n) => config.services[n].enabled),
    ...config.supervisor.extra.map((p) => p.name),
  ];

  const errors: string[] = [];
  const [orderManager, gaps] = await Promise.all([
    getJson<OrderManagerSlo>(
      config,
      'order-manager',
      `/api/slo?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
    ).catch((err: Error) => {
      errors.push(err.message);
      return null;
    }),
    getJson<{ data: GapRow[] }>(config, 'data-capture', '/api/gaps').catch((err: Error) => {
      errors.push(err.message);
      return null;
    }),
  ]);
  return sloReport(config, { span, services, records, orderManager, gaps, errors }, now);
}

async function getJson<T>(
  config: Config,
  service: 'order-manager' | 'data-capture',
  route: string,
): Promise<T> {
  const { host, port, enabled } = config.services[service];
  if (!enabled) throw new Error(`${service} is not enabled`);
  let res: Response;
  try {
    res = await fetch(`http://${host}:${port}${route}`, {
      headers: internalHeaders(config.home),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
  } catch {
    throw new Error(`${service} is not answering on ${host}:${port}`);
  }
  if (!res.ok) throw new Error(`${service} answered ${res.status} to ${route.split('?')[0]}`);
  return (await res.json()) as T;
}
