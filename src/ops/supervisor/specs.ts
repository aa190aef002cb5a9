import { fileURLToPath } from 'node:url';
import { type Config, SERVICE_NAMES, type ServiceName } from '../../kernel/config.js';
import { SERVICE_MODULES } from '../../services/registry.js';

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

const CLI_ENTRY = fileURLToPath(new URL('../../cli.js', import.meta.url));

/** The command that runs one built-in service in the foreground: `tradingsystem run <name>`. */
export function builtinCommand(name: ServiceName): string[] {
  return [process.execPath, CLI_ENTRY, 'run', name];
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
      command: builtinCommand(name),
      host: svc.host,
      port: svc.port,
      healthPath: '/health',
      dependsOn: BUILTIN_DEPENDENCIES[name],
      env: {},
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
