import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './helpers/cli.js';

// The real programs from Debian (`prometheus`, `prometheus-alertmanager`); .ci/run installs them.
const PROMTOOL = '/usr/bin/promtool';
const AMTOOL = '/usr/bin/amtool';
const PROM_DIR = path.join(ROOT, 'deploy', 'prometheus');
const AM_CONFIG = path.join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yml');
const RUNBOOK_BASE = 'http://127.0.0.1:8000/api/v1/docs/';

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => path.join(dir, f));

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules: Rule[] = yamlFiles(path.join(PROM_DIR, 'rules')).flatMap((f) =>
  (parseYaml(readFileSync(f, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules),
);
const alerts = rules.filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');

interface AlertTest {
  alertname: string;
  exp_alerts?: { exp_labels?: Record<string, string> }[];
}
const alertTests: AlertTest[] = yamlFiles(path.join(PROM_DIR, 'tests')).flatMap((f) =>
  (parseYaml(readFileSync(f, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] }).tests.flatMap(
    (t) => t.alert_rule_test ?? [],
  ),
);

describe('Prometheus configuration and rules', () => {
  it('promtool accepts the config, with every rule file it names', async () => {
    const { code, out } = await run(PROMTOOL, ['check', 'config', path.join(PROM_DIR, 'prometheus.yml')]);
    expect(out).toContain('SUCCESS');
    expect(code, out).toBe(0);
  });

  it('promtool accepts every rule file', async () => {
    const { code, out } = await run(PROMTOOL, ['check', 'rules', ...yamlFiles(path.join(PROM_DIR, 'rules'))]);
    expect(code, out).toBe(0);
  });

  it("every alert's promtool unit tests pass", async () => {
    const { code, out } = await run(PROMTOOL, ['test', 'rules', ...yamlFiles(path.join(PROM_DIR, 'tests'))]);
    expect(out).not.toContain('FAILED');
    expect(code, out).toBe(0);
  });

  it('every alert is tested firing at each of its severities and at least once not firing', () => {
    expect(alerts.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const a of alerts) {
      const severity = a.labels?.severity;
      const fires = alertTests.some(
        (t) =>
          t.alertname === a.alert && (t.exp_alerts ?? []).some((e) => e.exp_labels?.severity === severity),
      );
      if (!fires) missing.push(`${a.alert} (${severity}) never expected to fire`);
      const quiet = alertTests.some((t) => t.alertname === a.alert && (t.exp_alerts ?? []).length === 0);
      if (!quiet) missing.push(`${a.alert} never expected to stay quiet`);
    }
    expect(missing).toEqual([]);
  });

  it('every alert has a severity, a summary, a description and a runbook page that exists', () => {
    const problems: string[] = [];
    for (const a of alerts) {
      if (!['warning', 'critical'].includes(a.labels?.severity ?? '')) problems.push(`${a.alert}: severity`);
      if (!a.annotations?.summary || !a.annotations.description)
        problems.push(`${a.alert}: summary/description`);
      const url = a.annotations?.runbook_url ?? '';
      const page = url.startsWith(RUNBOOK_BASE)
        ? path.join(ROOT, 'docs', `${url.slice(RUNBOOK_BASE.length)}.md`)
        : '';
      if (!page || !existsSync(page)) problems.push(`${a.alert}: runbook ${url} has no page under docs/`);
    }
    expect(problems).toEqual([]);
  });

  it('the alert reference in the handbook lists every alert at each of its severities', () => {
    const reference = readFileSync(path.join(ROOT, 'docs', 'ops', 'alerts.md'), 'utf8').split('\n');
    const missing = alerts.filter(
      (a) => !reference.some((l) => l.startsWith(`| \`${a.alert}\` | ${a.labels?.severity} |`)),
    );
    expect(missing.map((a) => `${a.alert} (${a.labels?.severity})`)).toEqual([]);
  });

  it('names only metrics that some service or the supervisor defines', () => {
    // Every metric name in the source, as registered: `name: 'tradingsystem_…'`.
    const defined = new Set<string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
          for (const m of readFileSync(p, 'utf8').matchAll(/['"](tradingsystem_[a-z0-9_]+)['"]/g))
            if (m[1]) defined.add(m[1]);
      }
    };
    walk(path.join(ROOT, 'src'));
    const used = new Set(
      rules.flatMap((r) => [...r.expr.matchAll(/\b(tradingsystem_[a-z0-9_]+)/g)].map((m) => m[1] ?? '')),
    );
    const unknown = [...used].filter((n) => !defined.has(n.replace(/_(bucket|count|sum)$/, '')));
    expect(unknown).toEqual([]);
  });
});

describe('Alertmanager configuration', () => {
  it('amtool accepts it', async () => {
    const { code, out } = await run(AMTOOL, ['check-config', AM_CONFIG]);
    expect(code, out).toBe(0);
  });

  it('routes critical to PagerDuty and warning (or anything else) to Slack', async () => {
    const route = async (...labels: string[]) =>
      (await run(AMTOOL, ['config', 'routes', 'test', `--config.file=${AM_CONFIG}`, ...labels])).out
        .split('\n')
        .filter((l) => l && !l.startsWith('Warning'))
        .join(',');
    expect(await route('alertname=ServiceDown', 'service=docs', 'severity=critical')).toBe('pagerduty');
    expect(await route('alertname=DiskSpaceLow', 'severity=warning')).toBe('slack');
    expect(await route('alertname=Unlabelled')).toBe('slack');
  });

  it('reads its secrets from files only', () => {
    const text = readFileSync(AM_CONFIG, 'utf8');
    expect(text).toContain('routing_key_file:');
    expect(text).toContain('api_url_file:');
    expect(text).not.toMatch(/^\s*(routing_key|service_key|api_url):/m);
  });
});
