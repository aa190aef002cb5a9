// Read throughput and latency of the idea bank (GET /api/items over 1,000 ideas) and the handbook
// search, each beside a bare Fastify route answering the same bytes, in the same run.
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

const IDEAS = 1_000;

export async function run({ rounds = 3, durationS = 5 } = {}) {
  const docsPort = await freePort();
  const ideas = await startIdeaBank(IDEAS);
  const docs = await startService('docs', {
    TRADINGSYSTEM_HOME: tempHome('bench-docs-'),
    TRADINGSYSTEM__SERVICES__DOCS__PORT: String(docsPort),
    TRADINGSYSTEM__SERVICES__DOCS__DIR: path.join(ROOT, 'docs'),
  });
  const listBody = await (await fetch(`${ideas.base}/api/items`, { headers: ideas.headers })).text();
  const searchBody = await (
    await fetch(`${docs.base}/api/docs/search?q=restart`, { headers: docs.headers })
  ).text();
  const baseList = await startScript(path.join(ROOT, 'bench', 'baseline-fastify.mjs'), await freePort(), {
    BODY: listBody,
  });
  const baseSearch = await startScript(path.join(ROOT, 'bench', 'baseline-fastify.mjs'), await freePort(), {
    BODY: searchBody,
  });
  try {
    const r = await compare(
      {
        'GET /api/items (page of 100 of 1,000)': { url: `${ideas.base}/api/items`, headers: ideas.headers },
        'baseline: bare Fastify, same bytes (list)': `${baseList.base}/static`,
        'GET /api/items?q=liquidez&category=dashboard': {
          url: `${ideas.base}/api/items?q=liquidez&category=dashboard`,
          headers: ideas.headers,
        },
        'GET /api/docs/search?q=restart': {
          url: `${docs.base}/api/docs/search?q=restart`,
          headers: docs.headers,
        },
        'baseline: bare Fastify, same bytes (search)': `${baseSearch.base}/static`,
      },
      { rounds, durationS, connections: 10 },
    );
    return { machine: machine(), ideas: IDEAS, rounds, durationS, results: r };
  } finally {
    await Promise.all([ideas.stop(), docs.stop(), baseList.stop(), baseSearch.stop()]);
  }
}
