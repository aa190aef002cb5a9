// The baseline for HTTP read benchmarks: a bare Fastify server answering a fixed JSON body,
// with none of our hooks (validation, metrics, logging, request ids).
import Fastify from 'fastify';

const body = JSON.parse(process.env.BODY ?? '{"ok":true}');
const app = Fastify({ logger: false });
app.get('/health', async () => ({ status: 'ok' }));
app.get('/static', async () => body);
// Validates an order body like the order manager's schema does, then answers.
app.post(
  '/orders',
  {
    schema: {
      body: {
        type: 'object',
        required: ['symbol', 'side', 'type', 'quantity'],
        additionalProperties: false,
        properties: {
          symbol: { type: 'string', pattern: '^[A-Z0-9]{4,12}$' },
          side: { enum: ['BUY', 'SELL'] },
          type: { enum: ['MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT'] },
          quantity: { type: 'integer', minimum: 1 },
          price: { type: 'number', exclusiveMinimum: 0 },
          clientOrderId: { type: 'string', maxLength: 64 },
        },
      },
    },
  },
  async (req, reply) => reply.status(201).send({ data: { ...req.body, status: 'PENDING_NEW' } }),
);
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
