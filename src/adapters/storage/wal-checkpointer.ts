import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Plain CommonJS evaluated in the worker (see sqlite-writer.ts). PASSIVE copies what it can from
 * the WAL into the database without waiting on, or blocking, the writer.
 */
const CHECKPOINTER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints a WAL-mode SQLite file from a thread of its own, for a file written on the event loop
 * with `wal_autocheckpoint = 0`: copying the WAL back into the database was 40 % of the simulated
 * venue's write cost when SQLite did it inside a commit. `onDied` tells the owner to checkpoint
 * itself again.
 */
export class WalCheckpointer {
  onDied?: (err: Error) => void;
  private readonly worker: Worker;
  private closed = false;

  constructor(file: string, everyMs = 250) {
    this.worker = new Worker(CHECKPOINTER_SOURCE, {
      eval: true,
      workerData: { file, everyMs, driver: createRequire(import.meta.url).resolve('better-sqlite3') },
    });
    this.worker.unref();
    const died = (err: Error) => {
      if (this.closed) return;
      this.closed = true;
      this.onDied?.(err);
    };
    this.worker.on('error', (err) => died(new Error(`the checkpointer of ${file} failed: ${err.message}`)));
    this.worker.on('exit', (code) => died(new Error(`the checkpointer of ${file} exited (code ${code})`)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = once(this.worker, 'exit');
    this.worker.postMessage(null);
    await exited;
  }
}
