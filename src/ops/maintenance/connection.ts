import { parseArgs } from 'node:util';
import type { Config } from '../../kernel/config.js';
import { partsIn } from '../../kernel/time.js';
import { UsageError, wholeNumber, withUsage } from './args.js';
import { getJson } from './health-check.js';

/** What data-capture's `/api/status` tells about the broker session. */
export interface ConnectionStatus {
  broker: {
    status: 'ok' | 'degraded' | 'down';
    state: string;
    detail?: string;
    reconnectAttempts: number;
    reconnectsTotal?: number;
    escalated: boolean;
    transitions?: { at: string; from: string; to: string; cause: string }[];
    /** What the broker library reports itself (ProfitDLL), when it is not the simulator. */
    library?: {
      name: string;
      states: Record<string, string | null>;
      transitions: { at: string; type: string; state: string }[];
      callbackErrors: number;
    };
  };
  subscriptions: string[];
  cursors: Record<string, { session: string; lastTradeId: number; lastTs: number } | null>;
}

const USAGE = 'check-connection [--json] [--transitions N]';

/**
 * `tradingsystem check-connection`: the broker session's state, its recent transitions, the
 * reconnect attempts, and the last trade captured per subscription. Exit 0 when the session is
 * healthy, 1 when it is impaired or data-capture does not answer.
 */
export async function checkConnectionCommand(args: string[], config: Config): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, transitions: { type: 'string' } },
    });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const shown =
      values.transitions === undefined ? 15 : wholeNumber('--transitions', values.transitions, 0, 50);
    const { host, port } = config.services['data-capture'];
    let status: ConnectionStatus;
    try {
      status = await getJson<ConnectionStatus>(`http://${host}:${port}/api/status`, config.home);
    } catch (err) {
      const reason = (err as Error).name === 'TimeoutError' ? 'no answer in time' : (err as Error).message;
      if (values.json) console.log(JSON.stringify({ ok: false, error: `data-capture: ${reason}` }, null, 2));
      else
        console.error(
          `data-capture is not answering on ${host}:${port} (${reason}): no broker session to report`,
        );
      return 1;
    }
    const ok = status.broker.status === 'ok';
    const now = Date.now();
    if (values.json) {
      console.log(JSON.stringify({ ok, checkedAt: new Date(now).toISOString(), ...status }, null, 2));
      return ok ? 0 : 1;
    }
    const b = status.broker;
    const time = (ms: number) => {
      const p = partsIn(config.timezone, ms);
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
    };
    console.log(
      `broker session   ${b.state}${b.detail ? ` (${b.detail})` : ''}${b.escalated ? ' — ESCALATED: manual intervention needed' : ''}`,
    );
    console.log(
      `reconnects       ${b.reconnectAttempts} attempt(s) in the current outage; ${b.reconnectsTotal ?? '?'} since data-capture started`,
    );
    const transitions = b.transitions ?? [];
    if (shown > 0) {
      console.log(
        `transitions      ${transitions.length ? `last ${Math.min(shown, transitions.length)} of ${transitions.length} kept (${config.timezone})` : 'none kept'}`,
      );
      for (const t of transitions.slice(-shown))
        console.log(`  ${time(Date.parse(t.at))}  ${t.from} -> ${t.to}  (${t.cause})`);
    }
    if (b.library) {
      const states = Object.entries(b.library.states).map(([type, state]) => `${type} ${state ?? '-'}`);
      console.log(`${b.library.name.padEnd(16)} ${states.join(' · ')}`);
      if (b.library.callbackErrors > 0)
        console.log(
          `  ${b.library.callbackErrors} callback(s) could not be handled (see profitdll.callback_failed in the log)`,
        );
      for (const t of b.library.transitions.slice(-shown))
        console.log(`  ${time(Date.parse(t.at))}  ${t.type} ${t.state}`);
    }
    console.log('subscriptions    last trade captured (exchange time)');
    for (const ticker of status.subscriptions) {
      const c = status.cursors[ticker];
      const last = c
        ? `#${c.lastTradeId} at ${time(c.lastTs)} (${ago(now - c.lastTs)} ago), session ${c.session}`
        : 'no trade yet';
      console.log(`  ${ticker.padEnd(10)} ${last}`);
    }
    return ok ? 0 : 1;
  });
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7_200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3_600)} h`;
  return `${Math.round(s / 86_400)} days`;
}
