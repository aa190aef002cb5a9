import { type ChildProcess, execFile, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

/**
 * Every difference between Linux and Windows, in one place:
 * - stopping a process: a message on its IPC channel on Windows, which has no signals between
 *   processes; SIGTERM to its process group elsewhere (`askToStop`, `terminate`);
 * - ending a process tree: `taskkill /T /F` on Windows, SIGKILL to the group elsewhere (`killTree`);
 * - making a folder's entries durable: fsync of the folder, nothing on Windows (`syncFolder`);
 * - who may read a secrets file: mode bits, the folder's ACL on Windows (`secretFileExposure`);
 * - the `current` release pointer: a symlink, a small file on Windows (`readPointer`);
 * - a process's command line (/proc), the tar program, the OS service manager (systemd, WinSW),
 *   programs' file endings on PATH.
 * Paths are built with `node:path` everywhere, which follows the OS.
 */
export const IS_WINDOWS = process.platform === 'win32';

/** The endings a program's file may have on PATH: Windows looks for `.exe` and `.cmd`. */
export const EXECUTABLE_SUFFIXES: readonly string[] = IS_WINDOWS ? ['.exe', '.cmd', ''] : [''];

/** What a stopped service gets on its IPC channel where there are no signals (Windows). */
export const SHUTDOWN_MESSAGE = { type: 'shutdown' } as const;

/** Spawn options for a process that leads a group of its own (hidden console on Windows). */
export const OWN_GROUP = { detached: true, windowsHide: true } as const;

/**
 * Asks a process we started with an IPC channel to shut down in order. POSIX: SIGTERM to its
 * process group. Windows: signals cannot be sent to another process (Node would terminate it at
 * once), so the request goes over the IPC channel and the service handles `SHUTDOWN_MESSAGE`.
 */
export function askToStop(child: ChildProcess): void {
  if (child.pid === undefined) return;
  if (!IS_WINDOWS) {
    signalGroup(child.pid, 'SIGTERM');
    return;
  }
  if (child.connected) child.send(SHUTDOWN_MESSAGE, () => {});
}

/** Ends a process and all it started. POSIX: SIGKILL to its group. Windows: taskkill over its tree. */
export function killTree(pid: number): void {
  if (!IS_WINDOWS) {
    signalGroup(pid, 'SIGKILL');
    return;
  }
  spawnSync('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true });
}

/**
 * Asks a process we did not start with an IPC channel to end. POSIX: SIGTERM, and SIGCONT so a
 * stopped (SIGSTOP) one hears it. Windows has neither: its tree is ended.
 */
export function terminate(pid: number): void {
  if (IS_WINDOWS) {
    killTree(pid);
    return;
  }
  process.kill(pid, 'SIGTERM');
  process.kill(pid, 'SIGCONT');
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Makes a folder's entries durable: a rename or a new file in it survives a power cut. POSIX: an
 * fsync of the folder. Windows: nothing, since a folder cannot be opened for flushing there (Node
 * gets EPERM); NTFS journals its metadata, so a rename is recorded once it returns.
 */
export function syncFolder(dir: string): void {
  if (IS_WINDOWS) return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Why a secrets file is too open, or null. POSIX: group or others may read it (mode bits). Windows
 * has no mode bits (Node reports 0o666 for every file): access there is the folder's ACL, which the
 * installer sets, so nothing is checked.
 */
export function secretFileExposure(file: string): string | null {
  if (IS_WINDOWS) return null;
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return null;
  return `${file} may be read by group or others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`;
}

/** The name of the pointer to the current release inside the releases folder. */
export const POINTER = 'current';

/**
 * The release `current` points at, or null when none does. Linux: a symlink to `<version>`;
 * Windows: a small file holding `<version>` (a symlink needs an administrator there, and no
 * directory link can be replaced in one step).
 */
export function readPointer(dir: string): string | null {
  const file = path.join(dir, POINTER);
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (stat.isSymbolicLink()) return path.basename(readlinkSync(file));
  if (stat.isFile()) return readFileSync(file, 'utf8').trim() || null;
  // A folder or a junction someone made by hand: where it leads.
  return path.basename(realpathSync(file));
}

/**
 * Points `current` at release `id` in one step: the new pointer is made beside the old one and
 * renamed over it, so a reader sees the old release or the new one, never none.
 */
export function writePointer(dir: string, id: string): void {
  const file = path.join(dir, POINTER);
  const existing = lstatOrNull(file);
  if (existing?.isDirectory()) {
    throw new Error(`${file} is a folder, not a release pointer; move it away first`);
  }
  const tmp = path.join(dir, `.${POINTER}.${process.pid}.tmp`);
  rmSync(tmp, { force: true });
  if (IS_WINDOWS) writeFileSync(tmp, `${id}\n`);
  else symlinkSync(id, tmp); // relative: the releases folder can be moved whole
  renameSync(tmp, file);
  syncFolder(dir);
}

/** No release is current any more: services run from the install the supervisor started from. */
export function removePointer(dir: string): void {
  rmSync(path.join(dir, POINTER), { force: true });
  syncFolder(dir);
}

function lstatOrNull(file: string): ReturnType<typeof lstatSync> | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}

/** A process's command line (Linux, from /proc), or null where the OS does not show it this way. */
export function commandLineOf(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '').split('\0');
  } catch {
    return null;
  }
}

/**
 * The tar program: GNU tar on Linux; on Windows the bsdtar that ships in System32 (Windows 10 1803+,
 * Server 2019+), which comes first on the system PATH.
 */
const TAR = IS_WINDOWS ? 'tar.exe' : 'tar';

/** `tar -czf <file>` of `entries` (paths relative to `from`) plus `extra` files relative to `extraFrom`. */
export function createTarball(
  file: string,
  from: string,
  entries: string[],
  extraFrom: string,
  extra: string[],
): Promise<void> {
  return runTar(['-czf', file, '-C', from, ...entries, '-C', extraFrom, ...extra]);
}

export function extractTarball(file: string, into: string): Promise<void> {
  return runTar(['-xzf', file, '-C', into]);
}

function runTar(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(TAR, args, { maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err)
        reject(new Error(`tar failed: ${(stderr || err.message).trim().split('\n').slice(-3).join('; ')}`));
      else resolve();
    });
  });
}

/** Which service manager starts the supervisor at boot here. */
export type ServiceManager = 'systemd' | 'winsw';

export function serviceManager(): ServiceManager | null {
  if (IS_WINDOWS) return 'winsw';
  if (process.platform === 'linux') return 'systemd';
  return null;
}

export type ServiceOs = 'linux' | 'windows';

/** The OS whose service definition this machine uses. */
export const serviceOs = (): ServiceOs => (IS_WINDOWS ? 'windows' : 'linux');

/** The OS service's name when the config leaves it empty: a systemd unit's or a Windows service's. */
export function defaultServiceName(os: ServiceOs = serviceOs()): string {
  return os === 'windows' ? 'TradingSystem' : 'tradingsystem';
}

/** Whether systemd runs this machine (its runtime folder exists only then). */
export function systemdRunning(): boolean {
  return existsSync('/run/systemd/system');
}
