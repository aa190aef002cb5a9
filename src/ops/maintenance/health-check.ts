import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Config } from '../../kernel/config.js';
import { diskState } from '../../kernel/disk.js';
import { internalHeaders } from '../../kernel/internal-auth.js';
import { partsIn } from '../../kernel/time.js';
import { lastGoodBackup, listBackups } from '../backup/manifest.js';
import { UsageError, withUsage } from './args.js';
import { type HealthCheckBody, probeServices, type ServiceHealth } from './service-health.js';

/** `fail` and `warn` make the exit code non-zero; `unknown` is said, not counted (nothing to compare with). */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'unknown';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  [data: string]: unknown;
}

export interface HealthReport {
  ok: boolean;
  checkedAt: string;
  home: string;
  checks: CheckResult[];
}

const HTTP_TIMEOUT_MS = 3_000;
/** Live trades received this recently are compared with our clock. */
const CLOCK_SAMPLE_WINDOW_MS = 120_000;
const CLOCK_TRADES_PER_TICKER = 50;

const fromService: Record<string, CheckStatus> = { ok: 'ok', degraded: 'warn', down: 'fail' };

/**
 * The operations summary's "comprehensive health check": every service (through the one probe of
 * `tradingsystem health`), the broker session, the data home's disk, the age of the newest good
 * backup, our clock against the exchange's, open gaps in captured trades, and reconciliation.
 */
export async function healthReport(config: Config, now = Date.now()): Promise<HealthReport> {
  const services = await probeServices(config);
  const dc = services.find((s) => s.service === 'data-capture');
  const om = services.find((s) => s.service === 'order-manager');
  const dcBase = baseUrl(config, 'data-capture');
  const [disk, backup, clock, gaps] = await Promise.all([
    diskCheck(config),
    backupCheck(config, now),
    dc && dc.httpStatus !== null ? clockCheck(config, dcBase, now) : skipped('clock', dc),
    dc && dc.httpStatus !== null ? gapsCheck(dcBase, config.home) : skipped('gaps', dc),
  ]);
  const checks: CheckResult[] = [
    ...services.map(serviceCheck),
    serviceCheckOf('broker', dc, 'broker'),
    disk,
    backup,
    clock,
    gaps,
    serviceCheckOf('reconciliation', om, 'reconciliation'),
  ];
  return {
    ok: checks.every((c) => c.status === 'ok' || c.status === 'unknown'),
    checkedAt: new Date(now).toISOString(),
    home: config.home,
    checks,
  };
}

function serviceCheck(s: ServiceHealth): CheckResult {
  return {
    name: `service ${s.service}`,
    status: fromService[s.status] ?? 'fail',
    detail: s.failing.length ? s.failing.join('; ') : `${s.status} (${s.url})`,
    url: s.url,
    pid: s.pid,
  };
}

/** One named check of a service's /health (data-capture's `broker`, order-manager's `reconciliation`). */
function serviceCheckOf(name: string, s: ServiceHealth | undefined, check: string): CheckResult {
  const owner = name === 'broker' ? 'data-capture' : 'order-manager';
  if (!s) return { name, status: 'unknown', detail: `${owner} is not enabled here` };
  if (s.httpStatus === null) return { name, status: 'fail', detail: `${owner} is not answering` };
  const c = s.checks[check] as HealthCheckBody | undefined;
  if (!c) return { name, status: 'fail', detail: `${owner}'s /health has no '${check}' check` };
  const status = fromService[c.status] ?? 'fail';
  const { status: _s, detail, ...data } = c;
  const summary =
    name === 'broker'
      ? `${String(c.state ?? '?')}${detail ? `: ${detail}` : ''}${c.escalated ? ' (escalated)' : ''}`
      : (detail ??
        (typeof c.lastRunAt === 'string'
          ? `last run ${c.lastRunAt} (${String(c.reason ?? '')}): no mismatch`
          : 'ok'));
  return { name, status, detail: summary, ...data };
}

function skipped(name: string, dc: ServiceHealth | undefined): CheckResult {
  return dc
    ? { name, status: 'fail', detail: 'data-capture is not answering' }
    : { name, status: 'unknown', detail: 'data-capture is not enabled here' };
}

async function diskCheck(config: Config): Promise<CheckResult> {
  const d = await diskState(config.home, config, { fresh: true });
  const status: CheckStatus =
    d.level === 'ok' ? 'ok' : d.level === 'warn' ? 'warn' : d.level === 'critical' ? 'fail' : 'warn';
  return { name: 'disk', status, detail: d.detail, level: d.level, freePercent: d.freePercent };
}

/**
 * The newest good backup (verified whole, as `backup list` shows it) must be younger than
 * `healthCheck.backupMaxAgeHours`. A data home that never had one is given that long from its
 * creation ("no backup yet", not counted): a fresh install passes until its first 02:00 backup is
 * due, and fails after that if none was ever taken.
 */
export async function backupCheck(config: Config, now: number): Promise<CheckResult> {
  const maxHours = config.healthCheck.backupMaxAgeHours;
  let backups: ReturnType<typeof listBackups>;
  try {
    backups = listBackups(config.home);
  } catch (err) {
    return { name: 'backup', status: 'fail', detail: `cannot read the backups: ${(err as Error).message}` };
  }
  const good = lastGoodBackup(config.home);
  const newer = good ? backups.slice(backups.findIndex((b) => b.name === good.name) + 1) : backups;
  const others = newer.length ? `; newer: ${newer.map((b) => `${b.name} ${b.status}`).join(', ')}` : '';
  const finishedAt = good ? Date.parse(good.manifest.finishedAt) : Number.NaN;
  if (!good || !Number.isFinite(finishedAt)) {
    const created = homeCreatedAt(config.home);
    const hours = created === null ? null : (now - created) / 3_600_000;
    const young = backups.length === 0 && (hours === null || hours <= maxHours);
    return {
      name: 'backup',
      status: young ? 'unknown' : 'fail',
      detail: young
        ? `no backup yet (data home ${hours === null ? 'of unknown age' : `${Math.round(hours * 10) / 10} h old`}): the supervisor takes one daily at ${config.backup.dailyAt}, or run 'tradingsystem backup now'`
        : `no good backup in ${config.home}/backups${others}`,
    };
  }
  const ageHours = Math.round(((now - finishedAt) / 3_600_000) * 10) / 10;
  const detail = `newest good backup ${good.name}, finished ${good.manifest.finishedAt} (${ageHours} h ago)${others}`;
  return {
    name: 'backup',
    status: ageHours > maxHours ? 'fail' : 'ok',
    detail: ageHours > maxHours ? `${detail}: older than ${maxHours} h` : detail,
    backup: good.name,
    ageHours,
  };
}

/** When the data home was created (its folder's birth time), or null where the file system does not say. */
function homeCreatedAt(home: string): number | null {
  try {
    const born = statSync(home).birthtimeMs;
    return born > 0 ? born : null;
  } catch {
    return null;
  }
}

/** A live trade as data-capture's `/api/trades` returns it. */
export interface TradeSample {
  ts: string;
  recvTs: string;
  backfilled?: boolean;
}

/**
 * Our clock against the exchange's: the smallest (received − exchange time) over recent live
 * trades. Delivery delay only adds to it, so the smallest sample is the closest bound of the
 * offset (as NTP keeps its lowest-delay sample); positive: our clock is ahead, or the feed slow.
 * Null when no live trade was received within `windowMs` of `now`.
 */
export function estimateClockOffset(
  trades: TradeSample[],
  now: number,
  windowMs = CLOCK_SAMPLE_WINDOW_MS,
): { offsetMs: number; samples: number } | null {
  let best: number | null = null;
  let samples = 0;
  for (const t of trades) {
    if (t.backfilled) continue;
    const recv = Date.parse(t.recvTs);
    const ts = Date.parse(t.ts);
    if (!Number.isFinite(recv) || !Number.isFinite(ts) || now - recv > windowMs) continue;
    samples += 1;
    const d = recv - ts;
    if (best === null || d < best) best = d;
  }
  return best === null ? null : { offsetMs: best, samples };
}

/**
 * No NTP server is reachable from here and every service runs on this host's clock, so comparing
 * their times measures nothing: the one independent clock this system sees is the exchange's, in
 * the timestamp of every trade. Outside trading hours there is nothing to compare: `unknown`.
 */
async function clockCheck(config: Config, base: string, now: number): Promise<CheckResult> {
  const max = config.healthCheck.clockMaxOffsetMs;
  let trades: TradeSample[] = [];
  try {
    const status = await getJson<{ subscriptions?: string[] }>(`${base}/api/status`, config.home);
    const tickers = status.subscriptions ?? [];
    const pages = await Promise.all(
      tickers.map((t) =>
        getJson<{ data?: TradeSample[] }>(
          `${base}/api/trades?ticker=${encodeURIComponent(t)}&order=desc&limit=${CLOCK_TRADES_PER_TICKER}`,
          config.home,
        ).catch(() => ({ data: [] })),
      ),
    );
    trades = pages.flatMap((p) => p.data ?? []);
  } catch (err) {
    return {
      name: 'clock',
      status: 'unknown',
      detail: `cannot read recent trades: ${(err as Error).message}`,
    };
  }
  const est = estimateClockOffset(trades, now);
  if (!est)
    return {
      name: 'clock',
      status: 'unknown',
      detail: `no live trade in the last ${CLOCK_SAMPLE_WINDOW_MS / 1000} s to compare with (market closed?)`,
    };
  const { offsetMs, samples } = est;
  const side = offsetMs >= 0 ? 'ahead of' : 'behind';
  const detail = `${Math.abs(offsetMs)} ms ${side} the exchange's trade times (lowest delay of ${samples} live trades)`;
  return {
    name: 'clock',
    status: Math.abs(offsetMs) > max ? 'warn' : 'ok',
    detail: Math.abs(offsetMs) > max ? `${detail}: more than ${max} ms; check the time sync` : detail,
    offsetMs,
    samples,
  };
}

async function gapsCheck(base: string, home: string): Promise<CheckResult> {
  try {
    const g = await getJson<{
      open?: number;
      data?: { ticker: string; fromTradeId: number; toTradeId: number }[];
    }>(`${base}/api/gaps?state=open`, home);
    const open = g.data ?? [];
    if (!open.length) return { name: 'gaps', status: 'ok', detail: 'no open gap', open: 0 };
    const tickers = [...new Set(open.map((x) => x.ticker))];
    return {
      name: 'gaps',
      status: 'warn',
      detail: `${open.length} open gap(s) being backfilled (${tickers.join(', ')})`,
      open: open.length,
      gaps: open.slice(0, 20).map((x) => `${x.ticker} ${x.fromTradeId}-${x.toTradeId}`),
    };
  } catch (err) {
    return { name: 'gaps', status: 'fail', detail: `cannot read the gaps: ${(err as Error).message}` };
  }
}

function baseUrl(config: Config, service: 'data-capture' | 'order-manager'): string {
  const { host, port } = config.services[service];
  return `http://${host}:${port}`;
}

/** A GET to an internal service of `home`, presenting its internal credential. */
export async function getJson<T>(url: string, home: string): Promise<T> {
  const res = await fetch(url, {
    headers: internalHeaders(home),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const body = (await res.json().catch(() => null)) as (T & { error?: { message?: string } }) | null;
  if (!res.ok || body === null)
    throw new Error(body?.error?.message ?? `${new URL(url).pathname} answered ${res.status}`);
  return body;
}

const LABEL: Record<CheckStatus, string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', unknown: '?' };

/** `tradingsystem health-check [--json]`: exit 0 when nothing is wrong, 1 otherwise. */
export async function healthCheckCommand(args: string[], config: Config): Promise<number> {
  return withUsage('health-check [--json]', async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: 'boolean' } },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const report = await healthReport(config);
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      const p = partsIn(config.timezone, Date.parse(report.checkedAt));
      console.log(
        `health check ${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} (${config.timezone}), data home ${config.home}`,
      );
      for (const c of report.checks)
        console.log(`  ${LABEL[c.status].padEnd(5)} ${c.name.padEnd(24)} ${c.detail}`);
      const wrong = report.checks.filter((c) => c.status === 'warn' || c.status === 'fail');
      console.log(
        wrong.length
          ? `${wrong.length} problem(s): ${wrong.map((c) => c.name).join(', ')}`
          : 'everything is ok',
      );
    }
    return report.ok ? 0 : 1;
  });
}
