import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, SERVICE_NAMES, type ServiceName } from '../../kernel/config.js';
import { SERVICE_MODULES } from '../../services/registry.js';
import { currentReleaseDir } from '../deploy/store.js';

/** One process the supervisor runs: how to start it and where to ask whether it is healthy. */
export interface ProcessSpec {
  name: string;
  command: string[];
  host: string;
  port: number;
  healthPath: string;
  dependsOn: string[];
  env: Record<string, string>;
}

/** Start order between built-in services; the gateway fronts the others, so it comes up last. */
const BUILTIN_DEPENDENCIES: Record<ServiceName, ServiceName[]> = {
  'data-capture': [],
  'order-manager': ['data-capture'],
  stream: ['data-capture', 'order-manager'],
  'idea-bank': [],
  docs: [],
  gateway: ['data-capture', 'order-manager', 'stream', 'idea-bank', 'docs'],
};

export const CLI_ENTRY = fileURLToPath(new URL('../../cli.js', import.meta.url));

/**
 * The command that runs one built-in service in the foreground: `tradingsystem run <name>`, from
 * the current release of `releasesDir` when one is installed (`tradingsystem deploy`), else from
 * this install (a clone after `npm run build`).
 */
export function builtinCommand(name: ServiceName, releasesDir?: string): string[] {
  const release = releasesDir ? currentReleaseDir(releasesDir) : null;
  return [process.execPath, release ? path.join(release, 'dist', 'cli.js') : CLI_ENTRY, 'run', name];
}

/**
 * A release's services read its own handbook: the docs service's default folder (`docs` in the
 * working directory) becomes the release's `docs/`; a folder set in the config stays.
 */
function releaseEnv(name: ServiceName, config: Config): Record<string, string> {
  const release = currentReleaseDir(config.deploy.dir);
  if (name !== 'docs' || !release || config.services.docs.dir !== path.resolve('docs')) return {};
  return { TRADINGSYSTEM__SERVICES__DOCS__DIR: path.join(release, 'docs') };
}

/**
 * The processes to supervise, in start order (dependencies first): the enabled built-in services
 * plus any extra processes from config. `only` limits the set to the named processes.
 */
export function processSpecs(config: Config, only: string[] = []): ProcessSpec[] {
  const specs: ProcessSpec[] = [];
  for (const name of SERVICE_NAMES) {
    const svc = config.services[name];
    if (!svc.enabled || !SERVICE_MODULES[name]) continue;
    specs.push({
      name,
      // Getters: the supervisor reads them at every start of the process, so a deploy that
      // switches the current release takes effect at the service's next (re)start.
      get command() {
        return builtinCommand(name, config.deploy.dir);
      },
      get env() {
        return releaseEnv(name, config);
      },
      host: svc.host,
      port: svc.port,
      healthPath: '/health',
      dependsOn: BUILTIN_DEPENDENCIES[name],
    });
  }
  for (const extra of config.supervisor.extra) specs.push({ ...extra });

  const unknown = only.filter((n) => !specs.some((s) => s.name === n));
  if (unknown.length) {
    throw new Error(
      `unknown or disabled service: ${unknown.join(', ')} (known: ${specs.map((s) => s.name).join(', ')})`,
    );
  }
  const selected = only.length ? specs.filter((s) => only.includes(s.name)) : specs;
  return startOrder(selected);
}

/** Dependencies before dependents; a dependency outside the set is ignored (it is someone else's). */
export function startOrder(specs: ProcessSpec[]): ProcessSpec[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const ordered: ProcessSpec[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (spec: ProcessSpec, trail: string[]) => {
    const seen = state.get(spec.name);
    if (seen === 'done') return;
    if (seen === 'visiting') throw new Error(`dependency cycle: ${[...trail, spec.name].join(' -> ')}`);
    state.set(spec.name, 'visiting');
    for (const dep of spec.dependsOn) {
      const d = byName.get(dep);
      if (d) visit(d, [...trail, spec.name]);
    }
    state.set(spec.name, 'done');
    ordered.push(spec);
  };
  for (const s of specs) visit(s, []);
  return ordered;
}
