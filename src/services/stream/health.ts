import type { HealthStatus } from '../../kernel/service.js';

export interface ServiceProbe {
  name: string;
  url: string;
}

export interface ServiceState {
  status: HealthStatus;
  httpStatus: number | null;
  detail?: string;
}

type Publish = (channel: string, data: unknown) => void;

/**
 * The `health` channel: every service's `/health` polled on an interval, published as one map of
 * service → status whenever any status (or detail) changes.
 */
export class HealthPoller {
  private timer: NodeJS.Timeout | undefined;
  private last = '';
  private polling = false;

  constructor(
    private readonly services: readonly ServiceProbe[],
    private readonly intervalMs: number,
    private readonly publish: Publish,
  ) {}

  start(): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const timeoutMs = Math.min(2_000, this.intervalMs);
      const states = await Promise.all(this.services.map((s) => probe(s.url, timeoutMs)));
      const services = Object.fromEntries(this.services.map((s, i) => [s.name, states[i]]));
      const text = JSON.stringify(services);
      if (text !== this.last) {
        this.last = text;
        this.publish('health', { services });
      }
    } finally {
      this.polling = false;
    }
  }
}

async function probe(url: string, timeoutMs: number): Promise<ServiceState> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => ({}))) as { status?: unknown };
    const s = body.status;
    const status: HealthStatus = s === 'ok' || s === 'degraded' || s === 'down' ? s : res.ok ? 'ok' : 'down';
    return { status, httpStatus: res.status };
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    return { status: 'down', httpStatus: null, detail: timedOut ? 'no answer in time' : 'unreachable' };
  }
}
