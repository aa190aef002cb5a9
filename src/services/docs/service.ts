import type { App, ServiceDefinition } from '../../kernel/service.js';
import { Handbook } from './handbook.js';
import { createDocsMetrics } from './metrics.js';
import { handbookHealth, type RouteDeps, registerRoutes } from './routes.js';

/**
 * The documentation API: serves the handbook folder (`services.docs.dir`) as a list, pages rendered
 * to safe HTML, full-text search and a frontmatter/staleness report, reloading when files change.
 */
export const docsService: ServiceDefinition = {
  name: 'docs',
  async setup(ctx) {
    const { dir, reviewMaxAgeDays } = ctx.config.services.docs;
    const metrics = createDocsMetrics(ctx.metrics.registry);
    const handbook = new Handbook(dir, { logger: ctx.logger, onLoad: (state) => metrics.loaded(state) });
    await handbook.start();
    ctx.lifecycle.add({ name: 'handbook', stop: () => handbook.close() });
    ctx.addHealthCheck('handbook', () => handbookHealth(handbook.current()));
    const api: RouteDeps = {
      current: () => handbook.current(),
      now: () => ctx.clock.now(),
      timezone: ctx.config.timezone,
      reviewMaxAgeDays,
      metrics,
    };
    await ctx.app.register(async (scope: App) => registerRoutes(scope, api), { prefix: '/api' });
  },
};
