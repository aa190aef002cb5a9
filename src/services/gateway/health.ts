import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Config, IMPLEMENTED_SERVICES, type ServiceName } from '../../kernel/config.js';
import { type HealthProbeResult, probeHealth } from '../../kernel/health-probe.js';
import type { HealthStatus } from '../../kernel/service.js';
import type { Authenticator } from './auth.js';

const PROBE_TIMEOUT_MS = 2_000;

export interface ServiceHealth extends Omit<HealthProbeResult, 'answeredBy'> {
  url: string;
}

export interface SystemHealth {
  status: HealthStatus;
  services: Record<string, ServiceHealth>;
  /** The market-data broker session as data-capture reports it. */
  broker: { state: string; status: HealthStatus; detail?: string };
  /** Health checks that describe a feed (their name says so, or they report a lag). */
  feeds: Record<string, unknown>;
}

/** The services the gateway fronts: enabled in config and with code. */
export function frontedServices(config: Config): ServiceName[] {
  return IMPLEMENTED_SERVICES.filter((n) => n !== 'gateway' && config.services[n].enabled);
}

/** Probes every fronted service's `/health` in parallel, each bounded by a short timeout. */
export async function systemHealth(config: Config, timeoutMs: number): Promise<SystemHealth> {
  const names = frontedServices(config);
  const probes = await Promise.all(
    names.map(async (n): Promise<ServiceHealth> => {
      const url = `http://${config.services[n].host}:${config.services[n].port}/health`;
      // Who answered (a pid) is for the supervisor's checks, not for API clients.
      const { answeredBy: _, ...probe } = await probeHealth(url, Math.min(timeoutMs, PROBE_TIMEOUT_MS));
      return { url, ...probe };
    }),
  );
  const services = Object.fromEntries(names.map((n, i) => [n, probes[i] as ServiceHealth]));
  const broker = services['data-capture']?.checks?.broker;
  const feeds: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(services)) {
    for (const [check, result] of Object.entries(s.checks ?? {})) {
      if (check.includes('feed') || 'lag' in result) feeds[`${name}.${check}`] = result;
    }
  }
  const statuses = probes.map((p) => p.status);
  return {
    status: statuses.includes('down') ? 'down' : statuses.includes('degraded') ? 'degraded' : 'ok',
    services,
    broker: broker
      ? {
          state: String(broker.state ?? 'unknown'),
          status: broker.status,
          ...(typeof broker.detail === 'string' && { detail: broker.detail }),
        }
      : { state: 'unknown', status: 'down', detail: 'data-capture is not answering' },
    feeds,
  };
}

/**
 * The gateway's own `/health` faces the internet: without a key it says whether the gateway is up
 * (with its name and pid, which the supervisor checks to know the port is its own) and which checks
 * fail, by name and status only; their details (paths, counts, reasons) need a key, a wrong one
 * refused like on any route. With the keys file damaged no key works, so the names are what an
 * operator's probe sees.
 */
export function healthDetailsGuard(auth: Authenticator) {
  return async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (req.headers['x-api-key'] || auth.sessions.tokenOf(req)) {
      await auth.authenticate(req, reply);
      return payload;
    }
    const { status, service, pid, checks } = payload as {
      status: HealthStatus;
      service: string;
      pid: number;
      checks: Record<string, { status: HealthStatus }>;
    };
    const failing = Object.entries(checks)
      .filter(([, c]) => c.status !== 'ok')
      .map(([name, c]) => [name, { status: c.status }]);
    return { status, service, pid, ...(failing.length > 0 && { checks: Object.fromEntries(failing) }) };
  };
}
