import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { type Deferred, deferred } from '../../kernel/deferred.js';
import { SQLITE_CACHE_SIZE } from './sqlite-cache.js';

/** One statement run with its parameters: `[index into the writer's statements, params]`. */
export type WriteRow = [statement: number, params: unknown[]];

export interface SqliteWriterOptions {
  file: string;
  /** Prepared once on the writer thread; rows name them by index. */
  statements: readonly string[];
}

/**
 * Plain CommonJS evaluated in the worker, so it runs the same from `src/` (tests) and `dist/`; the
 * driver's path comes in `workerData`. better-sqlite3 rolls the whole transaction back when any
 * statement or the COMMIT fails.
 */
const WRITER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db = null;
let write = null;
function open() {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL'); // a commit survives a power cut
  db.pragma('cache_size = ' + workerData.cacheSize);
  const statements = workerData.statements.map((sql) => db.prepare(sql));
  write = db.transaction((rows) => {
    for (const [statement, params] of rows) statements[statement].run(params);
  });
}
open();
// After a failed commit the connection is opened afresh before the next one: a connection that
// met a read-only or full disk can stay read-only after the disk is writable again.
let reopen = false;
parentPort.on('message', (rows) => {
  if (rows === null) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    if (reopen) {
      try {
        db.close();
      } catch {}
      open();
      reopen = false;
    }
    write(rows);
    parentPort.postMessage(null);
  } catch (err) {
    reopen = true;
    parentPort.postMessage(String((err && err.message) || err));
  }
});
`;

interface Commit extends Deferred {
  rows: WriteRow[];
}

/**
 * A SQLite file's only write connection (WAL, synchronous=FULL), on a thread of its own: a commit's
 * work and its fsync never run on the event loop. Commits are written in the order asked, each as one transaction;
 * those asked while one is on its way go together, as the next. A failed commit fails what is
 * queued behind it too (it was built on it); once the thread has died, every commit fails.
 */
export class SqliteWriter {
  /** Called once, if the thread dies: nothing can be committed any more. */
  onDied?: (err: Error) => void;
  private readonly worker: Worker;
  private inFlight: Commit | null = null;
  private queued: Commit | null = null;
  private broken: Error | null = null;

  constructor(opts: SqliteWriterOptions) {
    this.worker = new Worker(WRITER_SOURCE, {
      eval: true,
      workerData: {
        file: opts.file,
        statements: opts.statements,
        cacheSize: SQLITE_CACHE_SIZE,
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
      },
    });
    this.worker.unref(); // referenced only while a commit is on its way
    this.worker.on('message', (failure: string | null) => this.written(failure));
    // Rebuilt here: an error thrown on the thread does not cross over whole.
    this.worker.on('error', (err) =>
      this.died(new Error(`the writer of ${opts.file} failed: ${err.message}`)),
    );
    this.worker.on('exit', (code) =>
      this.died(new Error(`the writer of ${opts.file} exited (code ${code})`)),
    );
  }

  /** Why nothing can be committed any more, or null while the writer works. */
  get failure(): Error | null {
    return this.broken;
  }

  /** Resolves once the rows are committed; rejects if that transaction (or one before it) failed. */
  commit(rows: readonly WriteRow[]): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    this.queued ??= newCommit();
    for (const row of rows) this.queued.rows.push(row);
    const { promise } = this.queued;
    this.dispatch();
    return promise;
  }

  /** Writes what was asked (also while closing), closes the connection and ends the thread. */
  async close(): Promise<void> {
    while (this.inFlight || this.queued) {
      await Promise.allSettled([this.inFlight?.promise, this.queued?.promise]);
    }
    if (this.broken) return;
    this.broken = new Error('the writer is closed');
    const exited = once(this.worker, 'exit');
    this.worker.ref();
    this.worker.postMessage(null);
    await exited;
  }

  private dispatch(): void {
    if (this.inFlight || !this.queued || this.broken) return;
    this.inFlight = this.queued;
    this.queued = null;
    this.worker.ref();
    this.worker.postMessage(this.inFlight.rows);
  }

  private written(failure: string | null): void {
    const commit = this.inFlight;
    if (!commit) return;
    this.inFlight = null;
    this.worker.unref();
    if (failure === null) {
      commit.resolve();
      this.dispatch();
      return;
    }
    const err = new Error(failure);
    const behind = this.queued;
    this.queued = null;
    commit.reject(err);
    behind?.reject(err);
  }

  private died(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    for (const lost of [this.inFlight, this.queued]) lost?.reject(err);
    this.inFlight = this.queued = null;
    this.onDied?.(err);
  }
}

/** A commit nobody waits on must not crash the process when it fails (its owner reports it). */
function newCommit(): Commit {
  return { rows: [], ...deferred() };
}
