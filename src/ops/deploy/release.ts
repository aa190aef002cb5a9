import { type ExecFileSyncOptionsWithStringEncoding, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../usage.js';

/**
 * A release is this program built and ready to run, without any data: `dist/`, `package.json`
 * and its lock, the production `node_modules` (native ones included, so a release is made for one
 * OS, CPU and Node ABI), the handbook `docs/`, `deploy/` and, when built, the dashboard
 * `web/dist/`. Its `release.json` says what it is.
 */
export interface ReleaseManifest {
  name: 'tradingsystem';
  /** The release's id and its folder's name: package version, commit, and a build stamp when dirty. */
  version: string;
  packageVersion: string;
  commit: string | null;
  /** Built from a work tree with uncommitted changes. */
  dirty: boolean;
  builtAt: string;
  platform: string;
  arch: string;
  /** `process.versions.modules`: native modules only load in a Node of the same ABI. */
  nodeAbi: string;
  node: string;
  /** The paths the release holds, relative to its folder (release.json aside). */
  entries: string[];
}

export const MANIFEST = 'release.json';

/** A release id: a semantic version with an optional suffix; it names a folder, so nothing else. */
const RELEASE_ID = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z][0-9A-Za-z.+-]{0,80})?$/;

/**
 * A deploy, rollback or service step that cannot go on: `tradingsystem` prints its message as one
 * line and exits 1. Bad input on the command line is a `UsageError` instead (exit 2).
 */
export class DeployError extends Error {}

export function isReleaseId(id: string): boolean {
  return RELEASE_ID.test(id) && !id.includes('..');
}

/** The reason `id` cannot be a release version, naming `what` carried it. */
export function badReleaseId(what: string, id: string): string {
  return `${what} '${id}' is not a valid release version (like 1.2.3 or 1.2.3-abc1234: digits, dots, then letters, digits, '.', '-' or '+')`;
}

/** The folder this program runs from: a clone (`npm run build`) or an installed release. */
export const PROJECT_DIR = fileURLToPath(new URL('../../..', import.meta.url));

/** Top-level paths a release takes from a built checkout besides dist and node_modules. */
const OPTIONAL_ENTRIES = ['docs', 'deploy', path.join('web', 'dist'), 'README.md', 'DEVELOPERS.md'];

/**
 * What a source folder holds as a release: an unpacked release (its `release.json`) or a built
 * checkout (`dist/cli.js`, `package.json`, `package-lock.json` and production node_modules).
 */
export function describeSource(src: string, versionOverride?: string): ReleaseManifest {
  if (!existsSync(src) || !statSync(src).isDirectory()) {
    throw new UsageError(`<release> '${src}' is not a folder`);
  }
  if (existsSync(path.join(src, MANIFEST))) {
    const manifest = readManifest(src);
    if (versionOverride && versionOverride !== manifest.version) {
      throw new UsageError(
        `--version ${versionOverride}: ${src} is a packed release of version ${manifest.version}, which it keeps`,
      );
    }
    return manifest;
  }
  for (const needed of ['package.json', 'package-lock.json', path.join('dist', 'cli.js')]) {
    if (!existsSync(path.join(src, needed))) {
      throw new UsageError(
        `<release> '${src}' has no ${needed}: give a built checkout (npm ci && npm run build), an unpacked release or a release tarball`,
      );
    }
  }
  const pkg = readJson(path.join(src, 'package.json')) as { name?: string; version?: string };
  if (pkg.name !== 'tradingsystem') {
    throw new UsageError(`<release> '${src}' is not tradingsystem (its package.json names '${pkg.name}')`);
  }
  const packageVersion = String(pkg.version ?? '0.0.0');
  const git = gitInfo(src);
  const builtAt = new Date().toISOString();
  if (versionOverride !== undefined && !isReleaseId(versionOverride)) {
    throw new UsageError(badReleaseId('--version', versionOverride));
  }
  const version = versionOverride ?? defaultVersion(packageVersion, git, builtAt);
  return {
    name: 'tradingsystem',
    version,
    packageVersion,
    commit: git?.commit ?? null,
    dirty: git?.dirty ?? true,
    builtAt,
    platform: process.platform,
    arch: process.arch,
    nodeAbi: process.versions.modules,
    node: process.version,
    entries: [
      'package.json',
      'package-lock.json',
      'dist',
      ...OPTIONAL_ENTRIES.filter((e) => existsSync(path.join(src, e))),
      ...productionModules(src),
    ],
  };
}

/** `0.1.0-f03c219` for a clean commit; a dirty tree or no git adds the build time, so ids never repeat. */
function defaultVersion(
  packageVersion: string,
  git: { commit: string; dirty: boolean } | null,
  builtAt: string,
): string {
  const stamp = builtAt.replace(/[-:]/g, '').replace(/\..*$/, ''); // 20261207T022448
  if (!git) return `${packageVersion}-${stamp}`;
  const short = git.commit.slice(0, 7);
  return git.dirty ? `${packageVersion}-${short}-dirty.${stamp}` : `${packageVersion}-${short}`;
}

function gitInfo(src: string): { commit: string; dirty: boolean } | null {
  try {
    const opts: ExecFileSyncOptionsWithStringEncoding = {
      cwd: src,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    };
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], opts).trim();
    const changes = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim();
    return { commit, dirty: changes.length > 0 };
  } catch {
    return null;
  }
}

/**
 * The top-level packages of `node_modules` that production needs, from the lock file: every
 * package not marked `dev`, as far as it is installed (optional ones for other platforms are not).
 */
export function productionModules(src: string): string[] {
  const lock = readJson(path.join(src, 'package-lock.json')) as {
    packages?: Record<string, { dev?: boolean }>;
  };
  const out: string[] = [];
  for (const [key, info] of Object.entries(lock.packages ?? {})) {
    if (!key.startsWith('node_modules/') || info.dev) continue;
    // Nested ones live inside a top-level package's folder and come with it.
    if (key.slice('node_modules/'.length).includes('node_modules/')) continue;
    const rel = key.split('/').join(path.sep);
    if (existsSync(path.join(src, rel))) out.push(rel);
  }
  return out.sort();
}

export function readManifest(dir: string): ReleaseManifest {
  const file = path.join(dir, MANIFEST);
  const m = readJson(file) as Partial<ReleaseManifest>;
  const strings = ['version', 'packageVersion', 'builtAt', 'platform', 'arch', 'nodeAbi', 'node'] as const;
  for (const key of strings) {
    if (typeof m[key] !== 'string') throw new DeployError(`${file}: '${key}' is missing or not text`);
  }
  if (m.name !== 'tradingsystem') throw new DeployError(`${file}: not a tradingsystem release`);
  if (!Array.isArray(m.entries) || !m.entries.every((e) => typeof e === 'string' && isInside(e))) {
    throw new DeployError(`${file}: 'entries' must list relative paths inside the release`);
  }
  if (!isReleaseId(m.version as string))
    throw new DeployError(badReleaseId(`${file}: version`, m.version as string));
  return m as ReleaseManifest;
}

/** A relative path that stays inside its folder. */
function isInside(rel: string): boolean {
  return rel !== '' && !path.isAbsolute(rel) && !rel.split(/[\\/]/).includes('..');
}

/** Refuses a release built for another OS, CPU or Node ABI: its native modules would not load. */
export function checkCompatible(m: ReleaseManifest): void {
  const here = { platform: process.platform, arch: process.arch, nodeAbi: process.versions.modules };
  const wrong = (['platform', 'arch', 'nodeAbi'] as const).filter((k) => m[k] !== here[k]);
  if (wrong.length) {
    throw new DeployError(
      `release ${m.version} was built for ${m.platform}-${m.arch} with Node ABI ${m.nodeAbi} (${m.node}); this machine is ${here.platform}-${here.arch} with Node ABI ${here.nodeAbi} (${process.version}): pack it on a machine like this one`,
    );
  }
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DeployError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DeployError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}
