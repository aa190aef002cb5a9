import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { App } from '../../kernel/service.js';
import { SIGN_IN_HTML, SIGN_IN_SCRIPT, SIGN_IN_SCRIPT_PATH } from './page.js';

/** The project folder: this file is `src/services/gateway/` or `dist/services/gateway/` in it. */
const PROJECT_DIR = fileURLToPath(new URL('../../..', import.meta.url));

/** The static folder config names: a relative path is taken from the project folder. */
export const staticRoot = (dir: string) => path.resolve(PROJECT_DIR, dir);

/**
 * Public files at `/`: the dashboard's build when `root` holds one (files added by a rebuild are
 * served without a restart), else the built-in sign-in page. Returns which one it serves.
 */
export async function registerStaticFiles(app: App, root: string): Promise<'dashboard' | 'sign-in page'> {
  if (existsSync(path.join(root, 'index.html'))) {
    // Its routes are outside the REST API, so public (accessOf in auth.ts).
    await app.register(fastifyStatic, { root, wildcard: true });
    return 'dashboard';
  }
  const route = { schema: { hide: true }, config: { access: 'public' as const } };
  app.get('/', route, (_req, reply) => reply.type('text/html; charset=utf-8').send(SIGN_IN_HTML));
  app.get(SIGN_IN_SCRIPT_PATH, route, (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').send(SIGN_IN_SCRIPT),
  );
  return 'sign-in page';
}
