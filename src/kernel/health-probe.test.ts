import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { foreignAnswer, probeHealth } from './health-probe.js';

const docs = { name: 'docs', port: 3300 };
/** What a body said of its sender, as `probeHealth` reads it. */
const by = (service: string | null, pid: number | null) => ({ service, pid });
const extra = { name: 'prometheus', port: 9090 };

describe('foreignAnswer: is this /health answer from the process we started?', () => {
  it('ours: our name and our pid', () => {
    expect(foreignAnswer(docs, 100, by('docs', 100))).toBeNull();
  });

  it('another program: no name, another name, no pid, or another pid', () => {
    expect(foreignAnswer(docs, 100, by(null, null))).toBe('port 3300 held by another program (not ours)');
    expect(foreignAnswer(docs, 100, by('idea-bank', 100))).toBe(
      "port 3300 held by another program (pid 100, answering as 'idea-bank')",
    );
    expect(foreignAnswer(docs, 100, by('docs', null))).toMatch(/held by another program \(not ours\)/);
    // The same service of another data home, left running on the port.
    expect(foreignAnswer(docs, 100, by('docs', 4242))).toBe('port 3300 held by another program (pid 4242)');
  });

  it('with no supervisor to ask for the pid, the name decides', () => {
    expect(foreignAnswer(docs, null, by('docs', 4242))).toBeNull();
    expect(foreignAnswer(docs, undefined, by(null, null))).toMatch(/held by another program/);
  });

  it('an extra process answers as it likes; a pid it gives is checked', () => {
    expect(foreignAnswer(extra, 7, by(null, null))).toBeNull();
    expect(foreignAnswer(extra, 7, by(null, 7))).toBeNull();
    expect(foreignAnswer(extra, 7, by(null, 8))).toBe('port 9090 held by another program (pid 8)');
  });
});

describe('probeHealth: one GET of /health, whatever answers', () => {
  let server: Server | null = null;
  afterEach(() => {
    server?.close();
    server = null;
  });
  /** A server answering every request with `status` and `body` (null: hangs). */
  async function serve(status: number, body: string | null): Promise<string> {
    server = createServer((_req, res) => {
      if (body === null) return; // never answers
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  }

  it('takes the status, checks and sender the body reports', async () => {
    const url = await serve(
      200,
      JSON.stringify({
        status: 'degraded',
        service: 'docs',
        pid: 42,
        checks: { disk: { status: 'degraded' } },
      }),
    );
    const r = await probeHealth(url, 1_000);
    expect(r).toMatchObject({
      status: 'degraded',
      httpStatus: 200,
      checks: { disk: { status: 'degraded' } },
      answeredBy: { service: 'docs', pid: 42 },
    });
  });

  it('a 503 without a body is down, a 200 without one ok, and neither names a sender', async () => {
    expect(await probeHealth(await serve(503, ''), 1_000)).toMatchObject({
      status: 'down',
      httpStatus: 503,
      answeredBy: { service: null, pid: null },
    });
    server?.close();
    expect((await probeHealth(await serve(200, 'not json'), 1_000)).status).toBe('ok');
  });

  it('no answer within the timeout, or nothing listening: down, no HTTP status, and why', async () => {
    const hung = await probeHealth(await serve(200, null), 200);
    expect(hung).toMatchObject({ status: 'down', httpStatus: null, detail: 'no answer within 200 ms' });
    const url = await serve(200, '{}');
    server?.close();
    await new Promise((r) => setTimeout(r, 50));
    const refused = await probeHealth(url, 1_000);
    expect(refused.httpStatus).toBeNull();
    expect(refused.detail).toBe('not answering');
  });
});
