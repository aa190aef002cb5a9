import { SERVICE_NAMES } from './config.js';
import type { HealthStatus } from './service.js';

/** What one GET of a service's `/health` found. */
export interface HealthProbeResult {
  status: HealthStatus;
  /** null when no HTTP answer came (refused, reset, or timed out). */
  httpStatus: number | null;
  latencyMs: number;
  /** The service's own checks, as its `/health` reported them. */
  checks?: Record<string, { status: HealthStatus; [extra: string]: unknown }>;
  /** Why the service counts as down when it gave no answer. */
  detail?: string;
  /** Who answered, as the body says (our services give their name and pid). */
  answeredBy: { service: string | null; pid: number | null };
}

/**
 * The one health probe (the supervisor, `tradingsystem health`, the gateway's `/health` and the
 * stream's `health` channel): GET `url`, bounded by `timeoutMs`. The status is the one the body
 * reports, else 'ok' for a 2xx and 'down' for anything else; no answer is 'down' with a detail.
 */
export async function probeHealth(url: string, timeoutMs: number): Promise<HealthProbeResult> {
  const started = performance.now();
  const latency = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => ({}))) as {
      status?: unknown;
      checks?: HealthProbeResult['checks'];
      service?: unknown;
      pid?: unknown;
    };
    const s = body.status;
    const status: HealthStatus = s === 'ok' || s === 'degraded' || s === 'down' ? s : res.ok ? 'ok' : 'down';
    return {
      status,
      httpStatus: res.status,
      latencyMs: latency(),
      ...(body.checks && typeof body.checks === 'object' && { checks: body.checks }),
      answeredBy: {
        service: typeof body.service === 'string' ? body.service : null,
        pid: typeof body.pid === 'number' ? body.pid : null,
      },
    };
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    return {
      status: 'down',
      httpStatus: null,
      latencyMs: latency(),
      detail: timedOut ? `no answer within ${timeoutMs} ms` : 'not answering',
      answeredBy: { service: null, pid: null },
    };
  }
}

/**
 * Why a `/health` answer is not from the process we started, or null when it is: the one test,
 * for the supervisor and for `tradingsystem health`. Our services answer with their name and pid;
 * an extra process is checked on the pid only if it gives one. `ourPid` null: not known (no
 * supervisor to ask), so only the name is checked.
 */
export function foreignAnswer(
  spec: { name: string; port: number },
  ourPid: number | null | undefined,
  answeredBy: HealthProbeResult['answeredBy'],
): string | null {
  const ours = (SERVICE_NAMES as readonly string[]).includes(spec.name);
  const { pid, service: name } = answeredBy;
  const wrongPid = pid !== null && ourPid != null && pid !== ourPid;
  const wrongName = ours && (name !== spec.name || pid === null);
  if (!wrongPid && !wrongName) return null;
  const who = [
    pid !== null ? `pid ${pid}` : 'not ours',
    ...(name !== null && name !== spec.name ? [`answering as '${name}'`] : []),
  ].join(', ');
  return `port ${spec.port} held by another program (${who})`;
}
