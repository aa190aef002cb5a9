/** A mistake on the command line: `tradingsystem` prints it as is and exits with code 2. */
export class UsageError extends Error {}
