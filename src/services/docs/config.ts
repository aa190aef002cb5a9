import path from 'node:path';
import Type, { type Static } from 'typebox';
import { address, type ServiceConfigSection, section } from '../../kernel/config.js';

/** `services.docs`: the handbook folder and when a page is stale. */
const DocsConfigSchema = Type.Object(
  {
    ...address(3300),
    /** The handbook folder; a relative path is taken from the working directory. */
    dir: Type.String({ minLength: 1, default: 'docs' }),
    /** A page whose `last_review` is older than this is reported stale. */
    reviewMaxAgeDays: Type.Integer({ minimum: 1, default: 90 }),
  },
  section,
);

declare module '../../kernel/config.js' {
  interface ServiceConfigs {
    docs: Static<typeof DocsConfigSchema>;
  }
}

export const docsConfig: ServiceConfigSection = {
  schema: DocsConfigSchema,
  /** The handbook folder is taken from the working directory. */
  settle(config, cwd) {
    config.services.docs.dir = path.resolve(cwd, config.services.docs.dir);
  },
};
