import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../config.js';
import { PROJECT_DIR } from '../deploy/release.js';
import { prometheusConfigFor, scrapeTargets, writeTargets } from './targets.js';

const DEPLOY_PROMETHEUS = path.join(PROJECT_DIR, 'deploy', 'prometheus');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'ts-targets-'));
const configWith = (env: Record<string, string>) => loadConfig({ env, cwd: tmp() });
const readYaml = (file: string) => parseYaml(readFileSync(file, 'utf8'));

describe('monitoring targets from the config', () => {
  it('are, for the default config, exactly the committed deploy/prometheus/targets files', () => {
    const targets = scrapeTargets(configWith({}));
    for (const name of ['services', 'supervisor', 'alertmanager'] as const)
      expect(targets[name]).toEqual(readYaml(path.join(DEPLOY_PROMETHEUS, 'targets', `${name}.yml`)));
  });

  it('follow the configured ports and hosts, skip disabled services and a supervisor without a listener', () => {
    const targets = scrapeTargets(
      configWith({
        TRADINGSYSTEM__SERVICES__DATA_CAPTURE__PORT: '15050',
        TRADINGSYSTEM__SERVICES__GATEWAY__HOST: '0.0.0.0',
        TRADINGSYSTEM__SERVICES__DOCS__ENABLED: 'false',
        TRADINGSYSTEM__SUPERVISOR__METRICS_PORT: '0',
        TRADINGSYSTEM__MONITORING__ALERTMANAGER_PORT: '19093',
      }),
    );
    expect(targets.services).toContainEqual({
      targets: ['127.0.0.1:15050'],
      labels: { service: 'data-capture' },
    });
    // A wildcard bind is scraped on loopback.
    expect(targets.services).toContainEqual({ targets: ['127.0.0.1:8000'], labels: { service: 'gateway' } });
    expect(targets.services.map((g) => g.labels?.service)).not.toContain('docs');
    expect(targets.supervisor).toEqual([]);
    expect(targets.alertmanager).toEqual([{ targets: ['127.0.0.1:19093'] }]);
  });

  it('rewrite prometheus.yml to absolute rule files and the generated target files', () => {
    const dir = tmp();
    writeTargets(dir, scrapeTargets(configWith({})));
    const config = parseYaml(prometheusConfigFor(DEPLOY_PROMETHEUS, dir));
    expect(config.rule_files).toEqual([path.join(DEPLOY_PROMETHEUS, 'rules', '*.yml')]);
    const files = [
      ...config.alerting.alertmanagers.flatMap(
        (a: { file_sd_configs: { files: string[] }[] }) => a.file_sd_configs,
      ),
      ...config.scrape_configs.flatMap((j: { file_sd_configs: { files: string[] }[] }) => j.file_sd_configs),
    ].flatMap((sd) => sd.files);
    expect(files.sort()).toEqual(
      ['alertmanager.yml', 'services.yml', 'supervisor.yml'].map((f) => path.join(dir, f)),
    );
    // Everything else is the deploy file's: 15 s scrape, the same jobs.
    expect(config.global.scrape_interval).toBe('15s');
    expect(config.scrape_configs.map((j: { job_name: string }) => j.job_name)).toEqual([
      'tradingsystem',
      'supervisor',
    ]);
  });
});
