import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Config, configFilePath } from '../../kernel/config.js';
import { defaultServiceName, type ServiceOs, serviceOs } from '../../kernel/platform.js';
import { PROJECT_DIR } from '../deploy/release.js';
import { currentReleaseDir, launcherPath } from '../deploy/store.js';
import { processSpecs } from '../supervisor/specs.js';

/** Everything an OS service definition (systemd unit, WinSW XML) is made from. */
export interface ServiceLayout {
  name: string;
  /** The Node.js executable. */
  node: string;
  /** The script it runs with `service run`: the releases launcher, or this install's CLI. */
  script: string;
  /** Where the config file is looked for, and relative paths start. */
  workingDir: string;
  home: string;
  /** TRADINGSYSTEM_CONFIG for the service, when a config file exists. */
  configFile: string | null;
  /** Linux: run as this user (empty: root). */
  user: string;
  watchdogSec: number;
  /** Long enough for every service's health gate, one after another. */
  startTimeoutSec: number;
  /** Long enough for every service's graceful stop, one after another. */
  stopTimeoutSec: number;
}

/**
 * The service as this config and this machine lay it out: the node running now, the launcher of
 * the releases folder once a release is installed (so the service follows deploys) or else this
 * install's CLI, the working directory and data home in use now.
 */
export function layoutFromConfig(config: Config, os: ServiceOs = serviceOs()): ServiceLayout {
  const releases = config.deploy.dir;
  const configFile = configFilePath();
  return {
    name: config.service.name || defaultServiceName(os),
    node: process.execPath,
    script: currentReleaseDir(releases) ? launcherPath(releases) : path.join(PROJECT_DIR, 'dist', 'cli.js'),
    workingDir: process.cwd(),
    home: config.home,
    configFile: existsSync(configFile) ? configFile : null,
    user: config.service.user,
    watchdogSec: config.service.watchdogSec,
    ...timeouts(config),
  };
}

export function timeouts(config: Config): { startTimeoutSec: number; stopTimeoutSec: number } {
  const n = processSpecs(config).length;
  return {
    startTimeoutSec: Math.ceil(config.supervisor.healthTimeoutMs / 1000) * n + 60,
    stopTimeoutSec: Math.ceil(config.supervisor.stopTimeoutMs / 1000) * n + 30,
  };
}

/**
 * The standard layouts the handbook describes and `deploy/systemd/`, `deploy/windows/` hold as
 * templates: an install root with `releases/`, `data/` and the config file, run by a `tradingsystem`
 * user on Linux and by LocalSystem on Windows.
 */
export function templateLayout(os: ServiceOs, config: Config): ServiceLayout {
  const t = timeouts(config);
  if (os === 'linux') {
    return {
      name: 'tradingsystem',
      node: '/usr/bin/node',
      script: '/opt/tradingsystem/releases/tradingsystem.mjs',
      workingDir: '/opt/tradingsystem',
      home: '/opt/tradingsystem/data',
      configFile: '/opt/tradingsystem/tradingsystem.config.json',
      user: 'tradingsystem',
      watchdogSec: config.service.watchdogSec,
      ...t,
    };
  }
  return {
    name: 'TradingSystem',
    node: 'C:\\Program Files\\nodejs\\node.exe',
    script: 'C:\\TradingSystem\\releases\\tradingsystem.mjs',
    workingDir: 'C:\\TradingSystem',
    home: 'C:\\TradingSystem\\data',
    configFile: 'C:\\TradingSystem\\tradingsystem.config.json',
    user: '',
    watchdogSec: 0,
    ...t,
  };
}
