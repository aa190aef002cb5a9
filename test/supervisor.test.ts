import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

interface Event {
  name: string;
  event: 'start' | 'healthy' | 'stop';
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

async function setup(processes: { name: string; dependsOn?: string[]; env?: Record<string, string> }[]) {
  const home = tempHome('ts-sup-');
  const eventsFile = path.join(home, 'events.jsonl');
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
  const env = configEnv(home, { services: allBuiltinsOff, supervisor: { ...fastPolicy, extra } });
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

  it('stops restarting after 5 crashes and marks the service failed, leaving the others running', async () => {
    const t = await setup([{ name: 'steady' }, { name: 'crasher', env: { CRASH_AFTER_MS: '150' } }]);
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
    const log = readFileSync(
      path.join(
        t.home,
        'logs',
        'supervisor',
        `${new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date())}.jsonl`,
      ),
      'utf8',
    );
    expect(log).toContain('"event":"supervisor.crash_loop"');
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
