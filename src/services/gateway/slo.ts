import Type from 'typebox';
import { buildSloReport } from '../../adapters/slo-report.js';
import { defaultWindow } from '../../domain/slo-report.js';
import type { Config } from '../../kernel/config.js';
import { fail } from '../../kernel/errors.js';
import type { App } from '../../kernel/service.js';
import { parseInstant } from '../../kernel/validation.js';
import { SECURITY } from './openapi.js';
import { rateLimit } from './routes.js';

export const SloQuery = Type.Object(
  {
    from: Type.Optional(
      Type.String({ format: 'date-time', description: 'ISO-8601; default: the start of this month' }),
    ),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'ISO-8601; default: now' })),
  },
  { additionalProperties: false },
);

/**
 * GET /api/v1/slo: the same report as `tradingsystem slo --json`, built here from the supervisor's
 * probe records in the data home and the order manager's and data-capture's own figures.
 */
export function registerSloRoute(app: App, config: Config, now: () => number): void {
  app.get(
    '/slo',
    {
      schema: {
        tags: ['system'],
        summary:
          'Service-level objectives: availability in market hours, tick-to-order P95, order success, data loss; each with its verdict and error budget',
        description: 'Role: viewer.',
        security: SECURITY,
        querystring: SloQuery,
      },
      config: { access: 'viewer', rateLimit: rateLimit(config.services.gateway.readsPerMinute) },
    },
    async (req) => {
      const at = now();
      const window = defaultWindow(config.timezone, at);
      if (req.query.from !== undefined) window.from = parseInstant('from', req.query.from);
      if (req.query.to !== undefined) window.to = parseInstant('to', req.query.to);
      if (window.to <= window.from) {
        throw fail.VALIDATION_ERROR('querystring: to must be after from', {
          location: 'querystring',
          field: 'to',
        });
      }
      return buildSloReport(config, window, at);
    },
  );
}
