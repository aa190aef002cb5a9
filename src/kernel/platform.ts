import { statSync } from 'node:fs';

/**
 * What differs between Linux and Windows below the operations kit, named in one place (the kit's
 * own differences are in ops/platform.ts).
 */
export const IS_WINDOWS = process.platform === 'win32';

/**
 * Why a secrets file is too open, or null. POSIX: group or others may read it (mode bits). Windows
 * has no mode bits (Node reports 0o666 for every file): access there is the folder's ACL, which an
 * installer sets, so nothing is checked.
 */
export function secretFileExposure(file: string): string | null {
  if (IS_WINDOWS) return null;
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return null;
  return `${file} may be read by group or others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`;
}
