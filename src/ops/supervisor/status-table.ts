import type { ProcessStatus } from './supervisor.js';

export function formatUptime(seconds: number | null): string {
  if (seconds === null) return '-';
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** The status table: service, pid, port, state, restarts, uptime, and why when it is not healthy. */
export function renderTable(rows: ProcessStatus[]): string {
  const header = ['SERVICE', 'PID', 'PORT', 'STATE', 'RESTARTS', 'UPTIME', 'DETAIL'];
  const cells = rows.map((r) => [
    r.name,
    r.pid === null ? '-' : String(r.pid),
    String(r.port),
    r.state,
    String(r.restarts),
    formatUptime(r.uptimeSeconds),
    r.detail ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}
