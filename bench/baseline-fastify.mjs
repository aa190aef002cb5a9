// The baseline for HTTP read benchmarks: a bare Fastify server answering a fixed JSON body,
// with none of our hooks (validation, metrics, logging, request ids).
import Fastify from 'fastify';

const body = JSON.parse(process.env.BODY ?? '{"ok":true}');
const app = Fastify({ logger: false });
app.get('/health', async () => ({ status: 'ok' }));
app.get('/static', async () => body);
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
