import type { ImplementedService, ServiceName } from '../kernel/config.js';
import type { ServiceDefinition } from '../kernel/service.js';

type Load = () => Promise<ServiceDefinition>;

/**
 * The services whose code exists, loaded lazily so `tradingsystem run <name>` imports only its own:
 * one per name in IMPLEMENTED_SERVICES (kernel/config.ts), which is what the services themselves read.
 */
export const SERVICE_MODULES: Partial<Record<ServiceName, Load>> = {
  'data-capture': async () => (await import('./data-capture/service.js')).dataCaptureService,
  'order-manager': async () => (await import('./order-manager/service.js')).orderManagerService,
  stream: async () => (await import('./stream/service.js')).streamService,
  gateway: async () => (await import('./gateway/service.js')).gatewayService,
  'idea-bank': async () => (await import('./idea-bank/service.js')).ideaBankService,
  docs: async () => (await import('./docs/service.js')).docsService,
} satisfies Record<ImplementedService, Load>;
