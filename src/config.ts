import { composeConfig } from './kernel/config.js';
import { dataCaptureConfig } from './services/data-capture/config.js';
import { docsConfig } from './services/docs/config.js';
import { gatewayConfig } from './services/gateway/config.js';
import { ideaBankConfig } from './services/idea-bank/config.js';
import { orderManagerConfig } from './services/order-manager/config.js';
import { streamConfig } from './services/stream/config.js';

/**
 * The system's config: the kernel's sections (`src/kernel/config.ts`) and each service's own
 * (`services.<name>`, in the service's `config.ts`). Load config with this `loadConfig`.
 */
export const { schema: ConfigSchema, loadConfig } = composeConfig({
  'data-capture': dataCaptureConfig,
  'order-manager': orderManagerConfig,
  stream: streamConfig,
  gateway: gatewayConfig,
  'idea-bank': ideaBankConfig,
  docs: docsConfig,
});
