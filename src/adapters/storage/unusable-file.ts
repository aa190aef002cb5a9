/**
 * A data file exists but cannot be used (unreadable, corrupt, inconsistent). It is never
 * overwritten or recreated: it stays as found, for an operator to inspect and restore.
 */
export class UnusableFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    message = `${file}: ${reason}`,
  ) {
    super(message);
    this.name = 'UnusableFileError';
  }
}
