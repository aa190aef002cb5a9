// Backup, verify, restore and the DR drill on a data home holding 7 days of simulated trading, while
// the whole system runs on it (simulator, orders, ideas). Each figure beside a baseline measured in
// the same run on the same files: `tar -cf` of the data home (backup), `sha256sum` of the backup's
// files (verify), `tar -xf` into a scratch folder (restore's copy). Median of --rounds.
//
//   npm run build && node bench/backup.mjs [--trades-per-day 1000000] [--days 7] [--rounds 3]
//
// The 7 past days are written as the converter writes them: one segment per minute of an 8-hour
// session, four instruments, into parquet/trades/date=*/ticker=*; the logs of those days are
// synthetic JSON lines (--log-mb per service per day). Today's data comes from the running system.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, freePort, machine, median, ROOT, tempHome } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    'trades-per-day': { type: 'string', default: '1000000' },
    days: { type: 'string', default: '7' },
    'log-mb': { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
  },
});
const TRADES_PER_DAY = Number(opts['trades-per-day']);
const DAYS = Number(opts.days);
const LOG_MB = Number(opts['log-mb']);
const ROUNDS = Number(opts.rounds);
const SESSION_MINUTES = 480;
const TICKERS = ['WINZ26', 'WDOZ26', 'PETR4', 'VALE3'];
const ZONE = 'America/Sao_Paulo';
const SERVICES = ['data-capture', 'order-manager', 'stream', 'gateway', 'idea-bank', 'docs'];

const dist = (p) => import(path.join(ROOT, 'dist', p));
const localDate = (ms) => new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(new Date(ms));

function duBytes(dir) {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}
function countFiles(dir) {
  return readdirSync(dir, { recursive: true }).filter((f) => statSync(path.join(dir, f)).isFile()).length;
}
const mb = (b) => `${(b / 1_048_576).toFixed(0)} MB`;
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** 7 past days of Parquet through the store's own writer, and their logs. */
async function fillHistory(home) {
  const { MarketStore } = await dist('services/data-capture/market-store.js');
  const store = await MarketStore.open({
    home,
    pointValues: { WINZ26: 0.2, WDOZ26: 10, PETR4: 1, VALE3: 1 },
    timeZone: ZONE,
  });
  const perMinute = Math.round(TRADES_PER_DAY / SESSION_MINUTES);
  let seq = 0;
  const t = performance.now();
  for (let d = DAYS; d >= 1; d--) {
    const open = Date.parse(`${localDate(Date.now() - d * 86_400_000)}T13:00:00Z`); // 10:00 in São Paulo
    const tradeIds = new Map(TICKERS.map((k) => [k, 0]));
    for (let m = 0; m < SESSION_MINUTES; m++) {
      const events = Array.from({ length: perMinute }, (_, i) => {
        const ticker = TICKERS[i % 4];
        const tradeId = tradeIds.get(ticker) + 1;
        tradeIds.set(ticker, tradeId);
        const ts = open + m * 60_000 + Math.floor((i * 60_000) / perMinute);
        seq += 1;
        return {
          kind: 'trade',
          seq,
          recvTs: ts,
          backfilled: false,
          ticker,
          exchange: i % 4 < 2 ? 'F' : 'B',
          ts,
          tradeId,
          price: 128_000 + 5 * (i % 17),
          qty: 1 + (i % 9),
          aggressor: i % 2 ? 'BUY' : 'SELL',
          buyAgent: 3,
          sellAgent: 308,
        };
      });
      await store.writeSegment(String(seq).padStart(16, '0'), events);
    }
    const date = localDate(open);
    const line = `${JSON.stringify({ level: 30, time: open, msg: 'x'.repeat(150) })}\n`;
    const lines = line.repeat(Math.ceil((LOG_MB * 1_048_576) / line.length));
    for (const svc of SERVICES) {
      mkdirSync(path.join(home, 'logs', svc), { recursive: true });
      writeFileSync(path.join(home, 'logs', svc, `${date}.jsonl`), lines);
    }
  }
  await store.close();
  return { trades: seq, ms: performance.now() - t };
}

function cli(env, ...args) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 1_800_000 });
  const ms = performance.now() - t;
  if (r.status !== 0)
    throw new Error(`tradingsystem ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return { ms, out: r.stdout };
}

/** Runs a baseline command; `okStatus` lists the exit codes that are not failures. */
function timed(cmd, args, okStatus = [0]) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', shell: false });
  if (!okStatus.includes(r.status)) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return performance.now() - t;
}

async function post(port, route, body) {
  // The supervisor's internal credential for this start, which every service asks for.
  const token = readFileSync(path.join(home, 'run', 'internal-token'), 'utf8').trim();
  const res = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tradingsystem-internal': token },
    body: JSON.stringify(body),
  });
  return res.status;
}

const home = tempHome('bench-backup-');
const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (n) => [n, await freePort()])));
const configFile = path.join(home, 'tradingsystem.config.json');
writeFileSync(
  configFile,
  JSON.stringify({
    services: Object.fromEntries(
      SERVICES.map((n) => [n, { port: ports[n], ...(n === 'docs' && { dir: path.join(ROOT, 'docs') }) }]),
    ),
    sim: { tradesPerSecond: 200 },
    log: { level: 'warn' },
    backup: { scheduled: false },
  }),
);
const env = { ...process.env, TRADINGSYSTEM_HOME: home, TRADINGSYSTEM_CONFIG: configFile };

console.log(`data home ${home}; writing ${DAYS} days × ${TRADES_PER_DAY.toLocaleString('en')} trades`);
const history = await fillHistory(home);
console.log(`history written in ${s(history.ms)}: ${history.trades.toLocaleString('en')} trades`);

cli(env, 'start', '--detach');
try {
  // Orders and ideas in the journals (the strategy-free load of a small desk's day).
  for (let i = 0; i < 400; i++) {
    await post(ports['order-manager'], '/api/orders', {
      symbol: i % 2 ? 'WINZ26' : 'WDOZ26',
      side: i % 4 < 2 ? 'BUY' : 'SELL',
      type: 'MARKET',
      quantity: 1,
      clientOrderId: `bench-${i}`,
    });
    if (i % 4 === 0)
      await post(ports['idea-bank'], '/api/items', {
        title: `idea ${i}`,
        description: 'bench',
        category: 'gestao-riscos',
      });
    await new Promise((r) => setTimeout(r, 110));
  }
  const homeBytes = duBytes(home);
  const homeFiles = countFiles(home);
  const rows = { backup: [], tar: [], verify: [], sha256sum: [], restore: [], untar: [] };
  let last = null;
  for (let r = 0; r < ROUNDS; r++) {
    const b = cli(env, 'backup', 'now', '--no-verify');
    rows.backup.push(b.ms);
    last = /^backup (\S+):/m.exec(b.out)[1];
    const dir = path.join(home, 'backups', last);
    const tarFile = path.join(home, '..', `${path.basename(home)}-base.tar`);
    // tar of a live data home: a journal segment growing while it is read is exit 1 ("file changed").
    rows.tar.push(
      timed(
        'tar',
        [
          '-C',
          home,
          '--exclude=./backups',
          '--exclude=./run',
          '--warning=no-file-changed',
          '-cf',
          tarFile,
          '.',
        ],
        [0, 1],
      ),
    );
    rows.verify.push(cli(env, 'backup', 'verify', last).ms);
    const files = readdirSync(dir, { recursive: true })
      .map((f) => path.join(dir, f))
      .filter((f) => statSync(f).isFile());
    rows.sha256sum.push(timed('sha256sum', files));
    const scratch = tempHome('bench-untar-');
    rows.untar.push(timed('tar', ['-C', scratch, '-xf', tarFile]));
    rmSync(scratch, { recursive: true, force: true });
    rmSync(tarFile, { force: true });
  }
  const backupBytes = duBytes(path.join(home, 'backups', last));
  const backupFiles = countFiles(path.join(home, 'backups', last));
  // Restore (verify, stop, move aside, copy, integrity, start, healthy): the live home, each round.
  for (let r = 0; r < Math.min(ROUNDS, 2); r++) rows.restore.push(cli(env, 'restore', '--date', last).ms);
  let drill;
  try {
    drill = JSON.parse(cli(env, 'dr-drill', '--json').out);
  } catch (err) {
    drill = { ok: false, error: err.message.split('\n').slice(0, 3).join(' ') };
  }
  const result = {
    machine: machine(),
    at: new Date().toISOString(),
    days: DAYS,
    tradesPerDay: TRADES_PER_DAY,
    tradesInHistory: history.trades,
    dataHome: { bytes: homeBytes, files: homeFiles },
    backup: { bytes: backupBytes, files: backupFiles },
    medianMs: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, Math.round(median(v))])),
    runsMs: rows,
    drill: {
      ok: drill.ok,
      rtoMs: drill.rtoMs,
      rpoMs: drill.rpoMs,
      backupMs: drill.backupMs,
      error: drill.error,
    },
  };
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  const out = path.join(
    ROOT,
    'bench',
    'results',
    `backup-${result.at.replaceAll(':', '-').slice(0, 19)}.json`,
  );
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  const m = result.medianMs;
  console.log(`\n## backup (${result.machine}; median of ${ROUNDS})`);
  console.log(
    `data home ${mb(homeBytes)} in ${homeFiles} files (${DAYS} days × ${TRADES_PER_DAY.toLocaleString('en')} trades + today); backup ${mb(backupBytes)} in ${backupFiles} files`,
  );
  console.log('| step | ours | baseline | ratio |\n|---|---|---|---|');
  console.log(
    `| backup now (no verify) | ${s(m.backup)} | tar -cf ${s(m.tar)} | ${(m.backup / m.tar).toFixed(2)} |`,
  );
  console.log(
    `| backup verify | ${s(m.verify)} | sha256sum ${s(m.sha256sum)} | ${(m.verify / m.sha256sum).toFixed(2)} |`,
  );
  console.log(
    `| restore (stop → healthy) | ${s(m.restore)} | tar -xf ${s(m.untar)} | ${(m.restore / m.untar).toFixed(2)} |`,
  );
  console.log(
    drill.error
      ? `dr-drill FAILED: ${drill.error}`
      : `dr-drill: ${drill.ok ? 'OK' : 'FAILED'}, RTO ${s(drill.rtoMs)}, RPO ${s(drill.rpoMs)}`,
  );
  console.log(`wrote ${path.relative(ROOT, out)}`);
} finally {
  spawnSync(process.execPath, [CLI, 'stop'], { env, stdio: 'ignore' });
  rmSync(home, { recursive: true, force: true });
}
