import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Config, SERVICE_NAMES } from '../../kernel/config.js';
import { createTarball, extractTarball } from '../../kernel/platform.js';
import { withUsage } from '../maintenance/args.js';
import { UsageError } from '../usage.js';
import {
  badReleaseId,
  checkCompatible,
  DeployError,
  describeSource,
  isReleaseId,
  MANIFEST,
  PROJECT_DIR,
  type ReleaseManifest,
  readManifest,
} from './release.js';
import { type Log, rollOut, supervisorStatus } from './rollout.js';
import { currentReleaseDir, type InstalledRelease, ReleaseStore } from './store.js';

const DEPLOY_USAGE = 'deploy <release.tgz | folder> [--version V]';
const ROLLBACK_USAGE = 'rollback [--to <version>]';
const RELEASES_USAGE = 'releases [--json]';
const RELEASE_USAGE = 'release pack [--out DIR] [--version V] [--source DIR] | release info [--json]';

/** Exit code of a deploy or rollback that failed and whose way back failed too: a person is needed. */
export const EXIT_ROLLBACK_FAILED = 5;

/**
 * `deploy <release.tgz | folder> [--version V]`: installs the release into `deploy.dir/<version>/`,
 * checks that it loads with this site's config, points `current` at it and restarts the services
 * one at a time through the running supervisor; the first one not healthy in time (or not staying
 * up) sends every restarted service back to the release that ran before. Data is never touched.
 */
export async function deployCommand(args: string[], config: Config): Promise<number> {
  return withUsage(DEPLOY_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      options: { version: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1) throw new UsageError('deploy needs one <release.tgz | folder>');
    const source = path.resolve(positionals[0] as string);
    if (!existsSync(source)) {
      throw new UsageError(`<release.tgz | folder> '${positionals[0]}': no such file or folder`);
    }
    const version = values.version;
    if (version !== undefined && !isReleaseId(version))
      throw new UsageError(badReleaseId('--version', version));

    const store = new ReleaseStore(config.deploy.dir);
    store.assertApartFrom(config.home);
    const unlock = store.lock();
    try {
      store.removeStaleStaging();
      // Before anything changes: a supervisor that does not answer cannot restart services.
      const before = await supervisorStatus(config);
      const log = timedLog();
      const staged = store.stagingDir();
      let manifest: ReleaseManifest;
      try {
        log(`installing from ${source}`);
        manifest = statSync(source).isDirectory()
          ? copyRelease(source, staged, version)
          : await unpackRelease(source, staged, version);
        checkCompatible(manifest);
        const installed = store.list().find((r) => r.version === manifest.version);
        if (installed) {
          rmSync(staged, { recursive: true, force: true });
          if (installed.current) {
            console.log(`release ${manifest.version} is already the current one; nothing to do`);
            return 0;
          }
          throw new DeployError(
            `release ${manifest.version} is already installed (${installed.status}); 'tradingsystem rollback --to ${manifest.version}' makes it current again`,
          );
        }
        await selfCheck(staged, manifest.version);
        log(`release ${manifest.version} loads with this config`);
      } catch (err) {
        rmSync(staged, { recursive: true, force: true });
        throw err;
      }
      store.adopt(staged, manifest.version);
      log(`installed ${store.releaseDir(manifest.version)}`);
      return await activate(config, store, manifest.version, before, 'deploy', log);
    } finally {
      unlock();
    }
  });
}

/** `rollback [--to <version>]`: back to the release before the current one (skipping failed ones). */
export async function rollbackCommand(args: string[], config: Config): Promise<number> {
  return withUsage(ROLLBACK_USAGE, async () => {
    const { values } = parseArgs({ args, options: { to: { type: 'string' } }, strict: true });
    const store = new ReleaseStore(config.deploy.dir);
    store.assertApartFrom(config.home);
    const unlock = store.lock();
    try {
      const current = store.current();
      let target: InstalledRelease | null;
      if (values.to !== undefined) {
        const to = values.to;
        if (!isReleaseId(to)) throw new UsageError(badReleaseId('--to', to));
        target = store.list().find((r) => r.version === to) ?? null;
        if (!target) {
          throw new UsageError(
            `--to ${to}: no such release installed in ${store.dir} (see 'tradingsystem releases')`,
          );
        }
      } else {
        target = store.previousGood();
        if (!target) {
          throw new DeployError(
            `no earlier release to go back to in ${store.dir}${current ? ` (current: ${current})` : ''}; see 'tradingsystem releases'`,
          );
        }
      }
      if (target.version === current) {
        console.log(`release ${current} is already the current one; nothing to do`);
        return 0;
      }
      const before = await supervisorStatus(config);
      const log = timedLog();
      log(`rolling back from ${current ?? 'no release'} to ${target.version}`);
      return await activate(config, store, target.version, before, 'rollback', log);
    } finally {
      unlock();
    }
  });
}

/** `releases [--json]`: the installed releases, oldest first, the current one marked. */
export async function releasesCommand(args: string[], config: Config): Promise<number> {
  return withUsage(RELEASES_USAGE, async () => {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true });
    const store = new ReleaseStore(config.deploy.dir);
    const releases = store.list();
    const current = store.current();
    if (values.json) {
      console.log(
        JSON.stringify(
          {
            dir: store.dir,
            current,
            releases: releases.map(({ manifest, ...r }) => ({ ...r, commit: manifest?.commit ?? null })),
            history: store.history().slice(-20),
          },
          null,
          2,
        ),
      );
      return 0;
    }
    if (!releases.length) {
      console.log(`no release installed in ${store.dir}; services run from ${PROJECT_DIR}`);
      return 0;
    }
    console.log(`releases in ${store.dir}`);
    for (const r of releases) {
      console.log(
        `${r.current ? '*' : ' '} ${r.version.padEnd(30)} ${r.installedAt.slice(0, 19).replace('T', ' ')}  ${r.status.padEnd(10)}${r.detail ? ` ${r.detail}` : ''}`,
      );
    }
    if (current && !releases.some((r) => r.current))
      console.log(`current points at ${current}, which is missing`);
    const history = store.history().slice(-5);
    if (history.length) {
      console.log('\nlast changes');
      for (const h of history) {
        console.log(
          `  ${h.at.slice(0, 19).replace('T', ' ')}  ${h.action.padEnd(13)} ${h.from ?? '-'} -> ${h.to ?? '-'}  ${h.result}${h.detail ? `: ${h.detail}` : ''}`,
        );
      }
    }
    return 0;
  });
}

/**
 * `release pack [--out DIR] [--version V] [--source DIR]`: a release tarball of a built checkout
 * (this one by default) with its production node_modules, and its SHA-256 beside it.
 * `release info [--json]`: what this program is (a deploy runs it from a new release as a check).
 */
export async function releaseCommand(args: string[], config: Config): Promise<number> {
  return withUsage(RELEASE_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      options: {
        out: { type: 'string' },
        version: { type: 'string' },
        source: { type: 'string' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
    const [action, extra] = positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
    if (action === 'info') {
      const manifest = existsSync(path.join(PROJECT_DIR, MANIFEST)) ? readManifest(PROJECT_DIR) : null;
      const pkg = JSON.parse(readFileSync(path.join(PROJECT_DIR, 'package.json'), 'utf8')) as {
        version: string;
      };
      const info = {
        version: manifest?.version ?? pkg.version,
        packed: manifest !== null,
        dir: PROJECT_DIR,
        commit: manifest?.commit ?? null,
        releasesDir: config.deploy.dir,
        current: currentReleaseDir(config.deploy.dir),
      };
      if (values.json) console.log(JSON.stringify(info, null, 2));
      else {
        console.log(
          `tradingsystem ${info.version} in ${info.dir}${info.packed ? '' : ' (a checkout, not a packed release)'}`,
        );
        console.log(`releases: ${info.releasesDir}; current: ${info.current ?? 'none'}`);
      }
      return 0;
    }
    if (action === 'pack') {
      const source = path.resolve((values.source as string | undefined) ?? PROJECT_DIR);
      const version = values.version as string | undefined;
      const manifest = describeSource(source, version);
      const out = path.resolve((values.out as string | undefined) ?? '.');
      mkdirSync(out, { recursive: true });
      const file = path.join(
        out,
        `tradingsystem-${manifest.version}-${manifest.platform}-${manifest.arch}.tgz`,
      );
      if (existsSync(file)) throw new DeployError(`${file} exists already; remove it or pack with --version`);
      const started = Date.now();
      console.log(`packing ${manifest.version} from ${source} (${manifest.entries.length} entries)`);
      const packed = existsSync(path.join(source, MANIFEST));
      const manifestDir = mkdtempSync(path.join(os.tmpdir(), 'ts-release-'));
      const partial = `${file}.partial`;
      try {
        if (!packed)
          writeFileSync(path.join(manifestDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
        await createTarball(partial, source, manifest.entries, packed ? source : manifestDir, [MANIFEST]);
        renameSync(partial, file);
      } finally {
        rmSync(partial, { force: true });
        rmSync(manifestDir, { recursive: true, force: true });
      }
      const sha = await sha256(file);
      writeFileSync(`${file}.sha256`, `${sha}  ${path.basename(file)}\n`);
      const mb = (statSync(file).size / 1_048_576).toFixed(1);
      console.log(`${file} (${mb} MiB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
      console.log(`sha256 ${sha}`);
      return 0;
    }
    throw new UsageError(action ? `unknown release action '${action}'` : 'release needs an action');
  });
}

/**
 * Makes `version` current and moves the running services onto it. A release that fails health is
 * marked failed and the services go back to the release that was current before.
 */
async function activate(
  config: Config,
  store: ReleaseStore,
  version: string,
  before: Awaited<ReturnType<typeof supervisorStatus>>,
  action: 'deploy' | 'rollback',
  log: Log,
): Promise<number> {
  const previous = store.current();
  store.switchTo(version);
  log(`current -> ${version}${previous ? ` (was ${previous})` : ''}`);
  const services = (before ?? [])
    .map((p) => p.name)
    .filter((n) => (SERVICE_NAMES as readonly string[]).includes(n));
  if (!before || !services.length) {
    const why = before ? 'the supervisor runs no built-in service' : 'the supervisor is not running';
    store.setStatus(version, 'unverified', `made current while ${why}`);
    store.record({ action, from: previous, to: version, result: 'unverified', detail: why });
    log(`${version} is current; ${why}, so the services run it from their next start`);
    return 0;
  }
  const result = await rollOut(config, store.releaseDir(version), services, before, log);
  if (result.ok) {
    store.setStatus(version, 'ok');
    store.record({ action, from: previous, to: version, result: 'ok' });
    const removed = action === 'deploy' ? store.prune(config.deploy.keepReleases) : [];
    if (removed.length) log(`removed old releases: ${removed.join(', ')}`);
    log(`${action} done: ${services.join(', ')} run ${version}`);
    return 0;
  }
  const failure = result.failure ?? 'unknown failure';
  store.setStatus(version, 'failed', failure);
  store.record({ action, from: previous, to: version, result: 'failed', detail: failure });
  const back = previous ?? null;
  log(`${action} of ${version} FAILED: ${failure}`);
  log(`rolling back ${result.restarted.join(', ')} to ${back ?? "the supervisor's own install"}`);
  store.switchTo(back);
  const now = (await supervisorStatus(config).catch(() => null)) ?? before;
  const undo = await rollOut(config, back ? store.releaseDir(back) : null, result.restarted, now, log);
  store.record({
    action: 'auto-rollback',
    from: version,
    to: back,
    result: undo.ok ? 'ok' : 'failed',
    ...(undo.failure ? { detail: undo.failure } : {}),
  });
  const backName = back ?? "the supervisor's own install";
  if (undo.ok) {
    log(`rolled back: ${backName} serves again`);
    console.error(`${action} of ${version} failed and was rolled back to ${backName}: ${failure}`);
    return 1;
  }
  console.error(
    `${action} of ${version} failed (${failure}) and so did the rollback to ${backName} (${undo.failure}): the services need a person ('tradingsystem status', the deployment page of the handbook)`,
  );
  return EXIT_ROLLBACK_FAILED;
}

/** Copies a built checkout's or an unpacked release's entries into `into`, with a release.json. */
function copyRelease(source: string, into: string, version: string | undefined): ReleaseManifest {
  const manifest = describeSource(source, version);
  for (const entry of manifest.entries) {
    cpSync(path.join(source, entry), path.join(into, entry), {
      recursive: true,
      verbatimSymlinks: true,
    });
  }
  writeFileSync(path.join(into, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Unpacks a tarball from `release pack`, checked against its `.sha256` when one lies beside it. */
async function unpackRelease(
  file: string,
  into: string,
  version: string | undefined,
): Promise<ReleaseManifest> {
  if (version !== undefined) {
    throw new UsageError('--version: a tarball keeps the version it was packed with (see its release.json)');
  }
  const sumFile = `${file}.sha256`;
  if (existsSync(sumFile)) {
    const expected = readFileSync(sumFile, 'utf8').trim().split(/\s+/)[0]?.toLowerCase();
    const actual = await sha256(file);
    if (expected !== actual) {
      throw new DeployError(
        `${file} does not match ${sumFile} (sha256 ${actual}, expected ${expected}): damaged or replaced`,
      );
    }
  }
  try {
    await extractTarball(file, into);
  } catch (err) {
    throw new DeployError(`<release.tgz> ${file} cannot be unpacked: ${(err as Error).message}`);
  }
  if (!existsSync(path.join(into, MANIFEST))) {
    throw new UsageError(
      `<release.tgz> ${file} is not a release (no ${MANIFEST}; make one with 'tradingsystem release pack')`,
    );
  }
  const manifest = readManifest(into);
  const missing = ['dist/cli.js', ...manifest.entries].find((e) => !existsSync(path.join(into, e)));
  if (missing) throw new DeployError(`<release.tgz> ${file} is incomplete: ${missing} is missing`);
  return manifest;
}

/**
 * Runs the new release's own CLI (`release info --json`) with this site's environment and working
 * folder: it must load, accept the config and say it is the version expected. Nothing is switched
 * before this passes.
 */
function selfCheck(dir: string, version: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(dir, 'dist', 'cli.js'), 'release', 'info', '--json'],
      { timeout: 60_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const why = (stderr || err.message).trim().split('\n').slice(0, 3).join('; ');
          reject(new DeployError(`release ${version} does not start here: ${why}`));
          return;
        }
        try {
          const info = JSON.parse(stdout) as { version?: string };
          if (info.version !== version) throw new Error(`it says it is ${info.version}`);
          resolve();
        } catch (e) {
          reject(new DeployError(`release ${version} answers its check wrongly: ${(e as Error).message}`));
        }
      },
    );
  });
}

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Lines stamped with the seconds since the command started, so each step's time shows. */
function timedLog(): Log {
  const t0 = Date.now();
  return (line) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
}
