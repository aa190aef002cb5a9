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
}

/**
 * The one health probe (the gateway's `/health` and the stream's `health` channel both use it):
 * GET `url`, bounded by `timeoutMs`. The status is the one the body reports, else 'ok' for a 2xx
 * and 'down' for anything else; no answer is 'down' with a detail.
 */
export async function probeHealth(url: string, timeoutMs: number): Promise<HealthProbeResult> {
  const started = performance.now();
  const latency = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => ({}))) as Partial<HealthProbeResult>;
    const s = body.status;
    const status: HealthStatus = s === 'ok' || s === 'degraded' || s === 'down' ? s : res.ok ? 'ok' : 'down';
    return {
      status,
      httpStatus: res.status,
      latencyMs: latency(),
      ...(body.checks && typeof body.checks === 'object' && { checks: body.checks }),
    };
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    return {
      status: 'down',
      httpStatus: null,
      latencyMs: latency(),
      detail: timedOut ? `no answer within ${timeoutMs} ms` : 'not answering',
    };
  }
}
