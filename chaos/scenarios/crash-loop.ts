import net from 'node:net';
import { bringUp, finish, kill9 } from '../lib/harness.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import { configHasKey, type ServiceName } from '../lib/system.js';
import { pollUntil, secs, sleep } from '../lib/util.js';

/** Takes a port (retrying while the killed service still holds it); connections are dropped at once. */
async function holdPort(port: number, timeoutMs = 3_000): Promise<net.Server> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const server = net.createServer((socket) => socket.destroy());
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      return server;
    } catch (err) {
      server.close();
      if (Date.now() > deadline) throw new Error(`cannot take port ${port}: ${(err as Error).message}`);
      await sleep(10);
    }
  }
}

/** The slow retry a crash-looping service gets (finding 4), when the config has a key for it. */
const SLOW_RETRY_KEY = 'supervisor.failedRetryMs';

function crashLoopScenario(target: ServiceName, profiles: ('short' | 'full')[]): Scenario {
  return {
    name: `crash-loop-${target}`,
    title: `${target} crash-loops (its port taken, so every start fails), then the cause goes: it must come back by itself`,
    findings: [4],
    profiles,
    budgetMs: () => 200_000,
    async run(ctx: ScenarioContext) {
      const crashLoopMax = 3;
      const slowRetryMs = 10_000;
      const hasKey = configHasKey(SLOW_RETRY_KEY);
      ctx.note(
        'slowRetry',
        hasKey
          ? { key: SLOW_RETRY_KEY, ms: slowRetryMs }
          : `no ${SLOW_RETRY_KEY} in the config schema: production default applies`,
      );
      const r = await bringUp(
        ctx,
        {
          name: `crash-${target}`,
          marketMs: hasKey ? 35_000 : 90_000,
          config: { supervisor: { crashLoopMax, ...(hasKey && { failedRetryMs: slowRetryMs }) } },
        },
        { ordersPerSecond: 5 },
      );
      await sleep(3_000);
      const port = r.sys.ports[target];
      const k = await kill9(r.sys, target);
      if (!k) throw new Error(`no ${target} pid`);
      const holder = await holdPort(port);
      ctx.defer('release the port', () => new Promise<void>((resolve) => holder.close(() => resolve())));
      ctx.log(`kill -9 ${target} and took its port ${port}: every start now fails`);
      // Until the supervisor declares the loop (its crash_loop alert), at most a minute.
      const alerted = await pollUntil(
        () =>
          r.sys
            .logEvents('supervisor', 'supervisor.crash_loop')
            .some((l) => l.includes(`"service":"${target}"`)),
        60_000,
        250,
      );
      const crashes = r.sys
        .logEvents('supervisor', 'supervisor.crashed')
        .filter((l) => l.includes(`"service":"${target}"`)).length;
      ctx.check(
        `the crash loop was reached and alerted (supervisor.crash_loop logged)`,
        alerted !== null,
        `${crashes} crash(es) logged${alerted ? `, crash_loop after ${secs(Date.now() - k.at)}` : ', no crash_loop event within 60 s'}`,
        { crashes },
      );
      const health = await r.sys.cli(['health'], 15_000);
      ctx.check(
        'tradingsystem health says it is not ok meanwhile',
        health.code !== 0,
        `exit ${health.code}: ${health.stdout.split('\n').find((l) => l.startsWith(target)) ?? health.stdout.trim()}`,
      );
      await sleep(3_000);
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      const t2 = Date.now();
      ctx.log(`port ${port} released: ${target} can start again`);
      const objective = hasKey ? slowRetryMs + 20_000 : 60_000;
      r.watch.record(ctx, target, 'the crash loop', k.at, t2);
      await r.watch.expectRecovery(ctx, [target], t2, objective, 'crash loop, cause removed');
      const final = (await r.sys.status())?.processes.find((p) => p.name === target);
      ctx.check(
        `${target} is not left 'failed'`,
        final?.state !== 'failed',
        `state ${final?.state ?? 'unknown'}`,
      );
      await finish(ctx, r);
    },
  };
}

export const crashLoopOrderManager = crashLoopScenario('order-manager', ['short', 'full']);
export const crashLoopDataCapture = crashLoopScenario('data-capture', ['full']);
