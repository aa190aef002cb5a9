import type { Clock, Timer } from '../../kernel/clock.js';
import { probeHealth } from '../../kernel/health-probe.js';
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
  private timer: Timer | undefined;
  private last = '';
  private polling = false;

  constructor(
    private readonly services: readonly ServiceProbe[],
    private readonly intervalMs: number,
    private readonly publish: Publish,
    private readonly clock: Clock,
  ) {}

  start(): void {
    void this.poll();
    this.timer = this.clock.every(this.intervalMs, () => void this.poll()).unref();
  }

  stop(): void {
    this.clock.cancel(this.timer);
  }

  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const timeoutMs = Math.min(2_000, this.intervalMs);
      const states = await Promise.all(
        this.services.map(async (s): Promise<ServiceState> => {
          // Latency and checks left out: the channel publishes when a status changes, not every poll.
          const { status, httpStatus, detail } = await probeHealth(s.url, timeoutMs);
          return { status, httpStatus, ...(detail !== undefined && { detail }) };
        }),
      );
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
