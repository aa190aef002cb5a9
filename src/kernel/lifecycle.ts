import type { Logger } from './logger.js';

/** A part of a service with something to do when the service starts or stops. */
export interface Component {
  readonly name: string;
  start?(): unknown;
  stop?(): unknown;
}

/**
 * A service's components in dependency order: started in that order once the server is ready,
 * stopped in reverse when it closes (the HTTP server no longer takes requests by then). The list
 * is the one place the stop order is written. A stop that fails is logged and the others still
 * run; how long each took is logged once, so a slow shutdown names its culprit.
 */
export class Lifecycle {
  private readonly components: Component[] = [];

  constructor(private readonly logger: Logger) {}

  add<C extends Component>(component: C): C {
    this.components.push(component);
    return component;
  }

  async start(): Promise<void> {
    for (const c of this.components) await c.start?.();
  }

  async stop(): Promise<void> {
    const ms: Record<string, number> = {};
    for (const c of [...this.components].reverse()) {
      if (!c.stop) continue;
      const started = performance.now();
      try {
        await c.stop();
      } catch (err) {
        this.logger.error(
          { event: 'service.stop_failed', component: c.name, err: (err as Error).message },
          `${c.name} failed to stop; stopping the rest`,
        );
      }
      ms[c.name] = Math.round(performance.now() - started);
    }
    this.logger.info({ event: 'service.stopped', ms }, 'components stopped');
  }
}
