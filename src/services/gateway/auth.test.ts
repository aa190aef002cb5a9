import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { App } from '../../kernel/service.js';
import { adminByDefault } from './auth.js';

describe('adminByDefault', () => {
  it('makes a route of the plugin that declares no access admin-only, and leaves declared ones and routes outside alone', async () => {
    const app = Fastify() as unknown as App;
    const accessOf = async (req: { routeOptions: { config: { access?: string } } }) =>
      req.routeOptions.config.access ?? 'public';
    await app.register(
      async (api: App) => {
        adminByDefault(api);
        api.get('/forgotten', accessOf);
        api.get('/declared', { config: { access: 'viewer' } }, accessOf);
        api.get('/open', { config: { access: 'public' } }, accessOf);
      },
      { prefix: '/api/v1' },
    );
    app.get('/outside', accessOf);
    const access = async (url: string) => (await app.inject({ url })).body;
    expect(await access('/api/v1/forgotten')).toBe('admin');
    expect(await access('/api/v1/declared')).toBe('viewer');
    expect(await access('/api/v1/open')).toBe('public');
    expect(await access('/outside')).toBe('public');
    await app.close();
  });
});
