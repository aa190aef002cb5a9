import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  configEnv,
  freePort,
  isAlive,
  type Running,
  runCli,
  spawnCli,
  TEST_SERVICE,
  tempHome,
  waitFor,
} from './helpers/cli.js';
import { SmallDisk } from './helpers/disk.js';

interface Event {
  name: string;
  event: 'start' | 'healthy' | 'unblocked' | 'stop';
  pid: number;
  t: number;
  grandchild?: number | null;
}

interface StatusJson {
  running: boolean;
  pid: number;
  ready: boolean;
  processes: { name: string; pid: number | null; port: number; state: string; restarts: number }[];
}

const fastPolicy = {
  healthTimeoutMs: 10_000,
  healthIntervalMs: 200,
  backoffInitialMs: 100,
  backoffMaxMs: 400,
  backoffResetMs: 60_000,
  crashLoopMax: 5,
  crashLoopWindowMs: 60_000,
  stopTimeoutMs: 3_000,
};

const allBuiltinsOff = Object.fromEntries(
  ['data-capture', 'order-manager', 'stream', 'gateway', 'idea-bank', 'docs'].map((n) => [
    n,
    { enabled: false },
  ]),
);

async function setup(
  processes: { name: string; dependsOn?: string[]; env?: Record<string, string> }[],
  policy: object = {},
  home = tempHome('ts-sup-'),
) {
  // Outside the data home, which some tests fill up.
  const eventsFile = path.join(tempHome('ts-sup-events-'), 'events.jsonl');
  const extra = [];
  for (const p of processes) {
    const port = await freePort();
    extra.push({
      name: p.name,
      command: [process.execPath, TEST_SERVICE],
      port,
      dependsOn: p.dependsOn ?? [],
      env: { NAME: p.name, PORT: String(port), EVENTS_FILE: eventsFile, ...p.env },
    });
  }
  const env = configEnv(home, { services: allBuiltinsOff, supervisor: { ...fastPolicy, ...policy, extra } });
  const events = (): Event[] =>
    existsSync(eventsFile)
      ? readFileSync(eventsFile, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Event)
      : [];
  const status = async (): Promise<StatusJson> =>
    JSON.parse((await runCli(['status', '--json'], env)).stdout) as StatusJson;
  return { home, env, events, status };
}

/** Today's supervisor log (the day in São Paulo, the default zone). */
const supervisorLog = (home: string) =>
  readFileSync(
    path.join(
      home,
      'logs',
      'supervisor',
      `${new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date())}.jsonl`,
    ),
    'utf8',
  );

let running: Running | null = null;
let envForCleanup: NodeJS.ProcessEnv | null = null;

afterEach(async () => {
  if (running && envForCleanup) {
    await runCli(['stop'], envForCleanup);
    await running.exited;
  }
  running = null;
  envForCleanup = null;
});

describe('supervisor', () => {
  it('starts in dependency order, each gated on its health, and lists them in status --json', async () => {
    const t = await setup([
      { name: 'gamma', dependsOn: ['beta'] },
      { name: 'alpha', env: { HEALTH_DELAY_MS: '1200' } },
      { name: 'beta', dependsOn: ['alpha'], env: { HEALTH_DELAY_MS: '600' } },
    ]);
    envForCleanup = t.env;
    running = spawnCli(['start'], t.env);
    const st = await waitFor('all healthy', async () => {
      const s = await t.status();
      return s.ready && s.processes.every((p) => p.state === 'healthy') ? s : null;
    });

    const ev = t.events();
    const at = (name: string, event: string) =>
      ev.find((e) => e.name === name && e.event === event)?.t ?? Number.NaN;
    expect(ev.filter((e) => e.event === 'start').map((e) => e.name)).toEqual(['alpha', 'beta', 'gamma']);
    // Health gating: each starts only after the one it depends on answered healthy.
    expect(at('beta', 'start')).toBeGreaterThanOrEqual(at('alpha', 'healthy'));
    expect(at('gamma', 'start')).toBeGreaterThanOrEqual(at('beta', 'healthy'));

    expect(st.running).toBe(true);
    expect(st.processes.map((p) => p.name)).toEqual(['alpha', 'beta', 'gamma']);
    for (const p of st.processes) {
      expect(p.pid).toBeGreaterThan(0);
      expect(isAlive(p.pid as number)).toBe(true);
      expect(p.port).toBeGreaterThan(0);
      expect(p.restarts).toBe(0);
    }
  });

  it('restarts a child killed with SIGKILL', async () => {
    const t = await setup([{ name: 'victim' }]);
    envForCleanup = t.env;
    running = spawnCli(['start'], t.env);
    const before = await waitFor('healthy', async () => {
      const s = await t.status();
      return s.processes[0]?.state === 'healthy' ? s.processes[0] : null;
    });
    process.kill(before.pid as number, 'SIGKILL');
    const after = await waitFor('restarted and healthy', async () => {
      const p = (await t.status()).processes[0];
      return p && p.state === 'healthy' && p.pid !== before.pid ? p : null;
    });
    expect(after.restarts).toBe(1);
    expect(isAlive(after.pid as number)).toBe(true);
    expect(t.events().filter((e) => e.event === 'start')).toHaveLength(2);
  });

  it('kills a service that stops answering, gives each next start twice the patience until one catches up, and forgets it once it answers', async () => {
    // Silent for 7 s after every start, as data-capture catching up on a backlog. A miss is a 2 s
    // probe timeout (then the next probe): killed after 1 miss (~2.5 s) the first time, 2 (~5 s)
    // the second; the third run may miss 4 (~10 s) and outlasts it. Probes one at a time: ones that
    // overlapped would count a silence as several misses and kill the third run too.
    // Without the patience it is killed at every start until it counts as a crash loop.
    const t = await setup([{ name: 'catcher', env: { BLOCK_MS: '7000' } }], {
      healthIntervalMs: 500,
      livenessFailures: 1,
      backoffResetMs: 3_000,
    });
    envForCleanup = t.env;
    running = spawnCli(['start'], t.env);
    const unblocked = await waitFor(
      'a run that outlasts its silence',
      () => t.events().find((e) => e.event === 'unblocked') ?? null,
      60_000,
    );
    const starts = t.events().filter((e) => e.event === 'start');
    expect(starts).toHaveLength(3);
    expect(unblocked.pid).toBe(starts[2]?.pid);
    const kills = () =>
      supervisorLog(t.home)
        .split('\n')
        .filter((l) => l.includes('"supervisor.liveness_failed"'))
        .map((l) => JSON.parse(l) as { misses: number; nextPatience: number });
    expect(kills().map((k) => [k.misses, k.nextPatience])).toEqual([
      [1, 2],
      [2, 4],
    ]);
    const p = await waitFor('healthy after catching up', async () => {
      const s = (await t.status()).processes[0];
      return s?.state === 'healthy' ? s : null;
    });
    expect(p.pid).toBe(starts[2]?.pid);
    expect(p.restarts).toBe(2);

    // Answering for `backoffResetMs`: back to the normal patience, so a hang is killed at the
    // first miss again (at 4× it would take four).
    await new Promise((r) => setTimeout(r, 4_000));
    process.kill(p.pid as number, 'SIGSTOP');
    const third = await waitFor('the hung process killed', () => kills()[2] ?? null, 20_000);
    expect([third.misses, third.nextPatience]).toEqual([1, 2]);
  }, 90_000);

  it('stops restarting after 5 crashes and marks the service failed, leaving the others running', async () => {
    const metricsPort = await freePort();
    const t = await setup([{ name: 'steady' }, { name: 'crasher', env: { CRASH_AFTER_MS: '150' } }], {
      failedRetryMs: 0,
      metricsPort,
    });
    envForCleanup = t.env;
    running = spawnCli(['start'], t.env);
    const failed = await waitFor('crash loop detected', async () => {
      const p = (await t.status()).processes.find((x) => x.name === 'crasher');
      return p?.state === 'failed' ? p : null;
    });
    expect(failed.pid).toBeNull();
    expect(failed.restarts).toBe(4);
    // It stays down: no sixth start.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(t.events().filter((e) => e.name === 'crasher' && e.event === 'start')).toHaveLength(5);
    const steady = (await t.status()).processes.find((x) => x.name === 'steady');
    expect(steady?.state).toBe('healthy');
    const log = supervisorLog(t.home);
    expect(log).toContain('"event":"supervisor.crash_loop"');
    // What Prometheus scrapes from the supervisor says the same.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('tradingsystem_supervisor_service_crash_loop{service="crasher"} 1');
    expect(metrics).toContain('tradingsystem_supervisor_service_restarts_total{service="crasher"} 4');
    expect(metrics).toContain('tradingsystem_supervisor_service_state{service="crasher",state="failed"} 1');
    expect(metrics).toContain('tradingsystem_supervisor_service_up{service="steady"} 1');
    expect(metrics).toContain('tradingsystem_supervisor_service_up{service="crasher"} 0');
  });

  it('keeps trying a crash-looping service slowly, and it comes back once the cause is gone', async () => {
    const home = tempHome('ts-sup-cause-');
    const cause = path.join(home, 'disk-is-full');
    writeFileSync(cause, '');
    // The retry period is longer than a status call takes on a loaded host (about 2 s), so the
    // count of starts is read before the first retry.
    const t = await setup([{ name: 'crasher', env: { CRASH_AFTER_MS: '150', CRASH_IF_FILE: cause } }], {
      failedRetryMs: 4_000,
    });
    envForCleanup = t.env;
    running = spawnCli(['start'], t.env);
    const crasher = async () => (await t.status()).processes.find((x) => x.name === 'crasher');
    const failed = await waitFor('crash loop detected', async () => {
      const p = await crasher();
      return p?.state === 'failed' ? p : null;
    });
    expect(failed.pid).toBeNull();
    const starts = () => t.events().filter((e) => e.name === 'crasher' && e.event === 'start').length;
    expect(starts()).toBe(5);
    // Still failing: tried again after the retry period, failed again.
    await waitFor('tried again', () => starts() >= 6, 15_000);
    await waitFor('failed again', async () => (await crasher())?.state === 'failed', 15_000);
    // The cause goes away: the next try stays up, without anyone restarting it.
    rmSync(cause);
    const back = await waitFor(
      'healthy again',
      async () => {
        const p = await crasher();
        return p?.state === 'healthy' ? p : null;
      },
      20_000,
    );
    expect(back.pid).not.toBeNull();
    const log = supervisorLog(t.home);
    expect(log).toContain('"event":"supervisor.crash_loop"');
    expect(log).toContain('"event":"supervisor.failed_retry"');
  });

  it('`stop` from another process stops everything and leaves no process behind', async () => {
    const t = await setup([
      { name: 'one', env: { SPAWN_GRANDCHILD: '1' } },
      { name: 'two', dependsOn: ['one'], env: { SPAWN_GRANDCHILD: '1' } },
    ]);
    running = spawnCli(['start'], t.env);
    const st = await waitFor('healthy', async () => {
      const s = await t.status();
      return s.ready && s.processes.every((p) => p.state === 'healthy') ? s : null;
    });
    const pids = [
      st.pid,
      ...st.processes.map((p) => p.pid as number),
      ...t.events().flatMap((e) => (e.grandchild ? [e.grandchild] : [])),
    ];
    expect(pids).toHaveLength(5);
    expect(pids.every(isAlive)).toBe(true);

    const stop = await runCli(['stop'], t.env);
    expect(stop.code).toBe(0);
    expect(await running.exited).toBe(0);
    running = null;
    await waitFor('all gone', () => pids.every((p) => !isAlive(p)), 5_000);
    // Dependents stop first.
    const stops = t
      .events()
      .filter((e) => e.event === 'stop')
      .map((e) => e.name);
    expect(stops).toEqual(['two', 'one']);
    expect(existsSync(path.join(t.home, 'run', 'supervisor.json'))).toBe(false);
    expect((await runCli(['status', '--json'], t.env)).code).toBe(3);
  });

  it('refuses a second start while one runs, and cleans a stale state file of a killed supervisor', async () => {
    const t = await setup([{ name: 'solo' }]);
    envForCleanup = t.env;
    running = spawnCli(['start'], t.env);
    const first = await waitFor('ready', async () => {
      const s = await t.status();
      return s.ready ? s : null;
    });
    const second = await runCli(['start'], t.env);
    expect(second.code).not.toBe(0);
    expect(second.stdout).toMatch(/already running \(supervisor pid \d+/);

    // Kill the supervisor hard: its child notices the closed IPC channel and stops by itself.
    process.kill(first.pid, 'SIGKILL');
    await running.exited;
    running = null;
    const childPid = first.processes[0]?.pid as number;
    await waitFor('orphan exits', () => !isAlive(childPid), 5_000);
    expect(existsSync(path.join(t.home, 'run', 'supervisor.json'))).toBe(true);

    running = spawnCli(['start'], t.env);
    const again = await waitFor('ready again', async () => {
      const s = await t.status();
      return s.ready && s.pid !== first.pid ? s : null;
    });
    expect(again.processes[0]?.state).toBe('healthy');
  });

  it('reports a frozen supervisor as running but not answering, and `stop` still stops it', async () => {
    const t = await setup([{ name: 'solo' }]);
    envForCleanup = t.env;
    running = spawnCli(['start'], t.env);
    const st = await waitFor('ready', async () => {
      const s = await t.status();
      return s.ready ? s : null;
    });
    process.kill(st.pid, 'SIGSTOP');
    try {
      const frozen = await runCli(['status'], t.env);
      expect(frozen.code).toBe(4);
      expect(frozen.stdout).toContain(`the supervisor (pid ${st.pid}) is running but not answering`);
      expect(frozen.stdout).toContain('solo');
      const json = JSON.parse((await runCli(['status', '--json'], t.env)).stdout);
      expect(json).toMatchObject({ running: true, answering: false, pid: st.pid });
      expect(json.token).toBeUndefined();
    } finally {
      const stop = await runCli(['stop'], t.env);
      expect(stop.code).toBe(0);
    }
    expect(await running.exited).toBe(0);
    running = null;
    expect(isAlive(st.pid)).toBe(false);
  }, 90_000);

  it('outlives a full disk: keeps supervising, and writes its state and logs again once there is space', async () => {
    const disk = SmallDisk.mount(16);
    try {
      const t = await setup([{ name: 'steady' }], {}, disk.dir);
      envForCleanup = t.env;
      running = spawnCli(['start'], t.env);
      const st = await waitFor('ready', async () => {
        const s = await t.status();
        return s.ready ? s : null;
      });
      const stateFile = path.join(t.home, 'run', 'supervisor.json');
      disk.fill();
      // A crash while the disk is full: the state change cannot be written.
      process.kill(st.processes[0]?.pid as number, 'SIGKILL');
      const restarted = await waitFor('restarted', async () => {
        const p = (await t.status()).processes[0];
        return p?.state === 'healthy' && p.restarts === 1 ? p : null;
      });
      expect(isAlive(st.pid), 'the supervisor survived').toBe(true);
      expect(JSON.parse(readFileSync(stateFile, 'utf8')).processes[0].restarts).toBe(0);
      disk.free();
      await waitFor(
        'state written again',
        () => JSON.parse(readFileSync(stateFile, 'utf8')).processes[0].pid === restarted.pid,
        5_000,
      );
      // No temporary file left behind (schedule.json, the daily jobs' last runs, and the internal
      // token may be there too).
      const left = readdirSync(path.dirname(stateFile));
      expect(left).toContain('supervisor.json');
      const known = ['supervisor.json', 'schedule.json', 'internal-token'];
      expect(left.filter((n) => !known.includes(n))).toEqual([]);
      // Back to writing its log: the lines that found no space are counted there (logger test).
      const log = supervisorLog(t.home);
      expect(log).toContain('"event":"supervisor.state_written"');
    } finally {
      // Stopped before the disk goes away under it.
      if (running && envForCleanup) {
        await runCli(['stop'], envForCleanup);
        await running.exited;
        running = null;
      }
      disk.unmount();
    }
  });

  it('start --detach returns once healthy and leaves the supervisor running', async () => {
    const t = await setup([{ name: 'bg' }]);
    const res = await runCli(['start', '--detach'], t.env);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('bg');
    const s = await t.status();
    expect(s.running).toBe(true);
    expect(isAlive(s.pid)).toBe(true);
    expect(s.processes[0]?.state).toBe('healthy');
    expect((await runCli(['stop'], t.env)).code).toBe(0);
    expect(isAlive(s.pid)).toBe(false);
  });

  it('restart <service> from another shell replaces its process', async () => {
    const t = await setup([{ name: 'r1' }]);
    envForCleanup = t.env;
    running = spawnCli(['start'], t.env);
    const before = await waitFor('healthy', async () => {
      const s = await t.status();
      return s.ready ? s.processes[0] : null;
    });
    const res = await runCli(['restart', 'r1'], t.env);
    expect(res.code).toBe(0);
    const after = (await t.status()).processes[0];
    expect(after?.pid).not.toBe(before.pid);
    expect(after?.state).toBe('healthy');
    expect(isAlive(before.pid as number)).toBe(false);
  });
});

describe('cli', () => {
  it('names the bad key and exits 2 on a bad config value', async () => {
    const home = tempHome();
    mkdirSync(home, { recursive: true });
    const file = path.join(home, 'bad.json');
    writeFileSync(file, JSON.stringify({ services: { gateway: { port: 70000 } } }));
    const res = await runCli(['status'], {
      ...process.env,
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM_CONFIG: file,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('services.gateway.port');
  });
});
