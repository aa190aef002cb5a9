import Type, { type Static } from 'typebox';
import { address, type ServiceConfigSection, section } from '../../kernel/config.js';

/** `services.idea-bank`: the idea bank and the ceilings of its file. */
const IdeaBankConfigSchema = Type.Object(
  {
    ...address(3200),
    /**
     * The ceiling of the bank: every change rewrites the whole file (atomic, fsynced), so
     * its cost grows with the file; these bound it (about 60 ms a write at 8 MB).
     */
    maxIdeas: Type.Integer({ minimum: 1, maximum: 100_000, default: 2_000 }),
    maxBytes: Type.Integer({ minimum: 10_000, maximum: 100_000_000, default: 8_000_000 }),
    /** A trader may fill the bank only to this many ideas: room stays for admins. */
    traderMaxIdeas: Type.Integer({ minimum: 1, maximum: 100_000, default: 1_500 }),
    /** Longest description a trader may write (an admin: the schema's 10,000). */
    traderMaxDescription: Type.Integer({ minimum: 1, maximum: 10_000, default: 4_000 }),
  },
  section,
);

declare module '../../kernel/config.js' {
  interface ServiceConfigs {
    'idea-bank': Static<typeof IdeaBankConfigSchema>;
  }
}

export const ideaBankConfig: ServiceConfigSection = {
  schema: IdeaBankConfigSchema,
};
