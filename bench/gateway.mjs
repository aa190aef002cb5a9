// Gateway throughput and latency for authenticated GETs (X-API-Key): one proxied to the idea bank
// and one the gateway answers itself (GET /api/v1/session), each beside a bare Fastify route
// answering the same bytes, and the idea bank asked directly, in the same run.
import path from 'node:path';
import {
  compare,
  freePort,
  machine,
  ROOT,
  startIdeaBank,
  startScript,
  startService,
  tempHome,
} from './lib.mjs';

const IDEAS = 20;

export async function run({ rounds = 3, durationS = 5 } = {}) {
  const gatewayPort = await freePort();
  const ideas = await startIdeaBank(IDEAS);

  const home = tempHome('bench-gw-');
  const { KeyStore } = await import(path.join(ROOT, 'dist', 'kernel', 'auth', 'keys.js'));
  const { key } = await KeyStore.at(home).create('bench', 'viewer');
  const gateway = await startService('gateway', {
    TRADINGSYSTEM_HOME: home,
    TRADINGSYSTEM__SERVICES__GATEWAY__PORT: String(gatewayPort),
    TRADINGSYSTEM__SERVICES__IDEA_BANK__PORT: String(ideas.port),
    TRADINGSYSTEM__SERVICES__GATEWAY__READS_PER_MINUTE: '100000000', // measure the path, not the limiter
    // The idea bank's own credential: the gateway presents it upstream, as under one supervisor.
    TRADINGSYSTEM_INTERNAL_TOKEN: ideas.headers['x-tradingsystem-internal'],
  });
  const headers = { 'x-api-key': key };
  const bodyOf = async (url) => {
    const res = await fetch(url, { headers });
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    return res.text();
  };
  const listBody = await bodyOf(`${gateway.base}/api/v1/ideas`);
  const sessionBody = await bodyOf(`${gateway.base}/api/v1/session`);
  const baseList = await startScript(path.join(ROOT, 'bench', 'baseline-fastify.mjs'), await freePort(), {
    BODY: listBody,
  });
  const baseSession = await startScript(path.join(ROOT, 'bench', 'baseline-fastify.mjs'), await freePort(), {
    BODY: sessionBody,
  });
  try {
    const r = await compare(
      {
        [`gateway GET /api/v1/ideas (proxied, ${IDEAS} ideas)`]: `${gateway.base}/api/v1/ideas`,
        'idea bank GET /api/items, directly': {
          url: `${ideas.base}/api/items`,
          headers: { ...headers, ...ideas.headers },
        },
        'baseline: bare Fastify, same bytes (ideas)': `${baseList.base}/static`,
        'gateway GET /api/v1/session (answered by the gateway)': `${gateway.base}/api/v1/session`,
        'baseline: bare Fastify, same bytes (session)': `${baseSession.base}/static`,
      },
      // Every target gets the key; the bare routes ignore it.
      { rounds, durationS, connections: 10, headers },
    );
    return { machine: machine(), ideas: IDEAS, rounds, durationS, results: r };
  } finally {
    await Promise.all([ideas.stop(), gateway.stop(), baseList.stop(), baseSession.stop()]);
  }
}
