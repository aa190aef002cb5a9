import path from 'node:path';
import { Low } from 'lowdb';
import type { Idea } from '../../domain/ideas.js';
import { type Clock, systemClock } from '../../kernel/clock.js';
import { DurableJsonFile, UnusableFileError } from '../../kernel/durable-file.js';
import { describe as describeError, strictAjv } from '../../kernel/validation.js';
import { isLive, type KeyRecord, KeyRecordSchema } from './idempotency.js';
import { IdeaSchema } from './schemas.js';

interface IdeasFile {
  items: Idea[];
  /** Idempotency keys of recent creates (absent when there are none, as in older files). */
  idempotency?: KeyRecord[];
}

const validateIdea = strictAjv.compile(IdeaSchema);
const validateKey = strictAjv.compile(KeyRecordSchema);

/** Serialized size of an idea, cached: ideas are replaced on change, never edited in place. */
const sizes = new WeakMap<Idea, number>();
export function ideaBytes(idea: Idea): number {
  let n = sizes.get(idea);
  if (n === undefined) {
    n = Buffer.byteLength(JSON.stringify(idea));
    sizes.set(idea, n);
  }
  return n;
}

/** About the size of the file the ideas make (keys and indentation aside). */
export function totalBytes(ideas: Iterable<Idea>): number {
  let n = 0;
  for (const idea of ideas) n += ideaBytes(idea);
  return n;
}

export type StoreState = { ready: true } | { ready: false; reason: string };

/**
 * A change to the working set of ideas (and of idempotency keys, by key); it returns what the
 * caller gets back, or throws.
 */
export type Mutation<R> = (ideas: Map<string, Idea>, keys: Map<string, KeyRecord>) => R;

interface Pending {
  mutate: Mutation<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The ideas, held in memory and in `{home}/db/ideas.json` (LowDB, durable atomic writes).
 * Changes are group-committed: every change waiting while a write runs goes into the next write,
 * and a caller hears back only after the file holding its change is on disk. A failed write
 * rejects every change in it and leaves the committed state as it was.
 * A file that cannot be read or does not hold valid ideas makes the store unavailable; it is
 * never overwritten, so it can be inspected and restored. Idempotency keys live in the same file,
 * so a key is on disk exactly when its idea is; each write leaves out the keys past their TTL.
 */
export class IdeaStore {
  private committed = new Map<string, Idea>();
  private committedKeys = new Map<string, KeyRecord>();
  private queue: Pending[] = [];
  private writing = false;
  private db: Low<IdeasFile>;
  state: StoreState = { ready: false, reason: 'not opened' };
  /** Changes on every commit, so readers can cache what they derive from the ideas. */
  version = 0;

  constructor(
    readonly file: string,
    private readonly clock: Clock = systemClock,
  ) {
    this.db = new Low<IdeasFile>(new DurableJsonFile<IdeasFile>(file), { items: [] });
  }

  static at(home: string, clock?: Clock): IdeaStore {
    return new IdeaStore(path.join(home, 'db', 'ideas.json'), clock);
  }

  async open(): Promise<StoreState> {
    try {
      await this.db.read();
    } catch (err) {
      this.state = { ready: false, reason: err instanceof UnusableFileError ? err.message : String(err) };
      return this.state;
    }
    const problem = checkShape(this.db.data);
    if (problem) {
      this.state = { ready: false, reason: `${this.file}: ${problem}` };
      return this.state;
    }
    this.committed = new Map(this.db.data.items.map((i) => [i.id, i]));
    this.committedKeys = new Map((this.db.data.idempotency ?? []).map((k) => [k.key, k]));
    this.version += 1;
    this.state = { ready: true };
    return this.state;
  }

  all(): Idea[] {
    return [...this.committed.values()];
  }

  get(id: string): Idea | undefined {
    return this.committed.get(id);
  }

  get size(): number {
    return this.committed.size;
  }

  /** The committed record of an idempotency key, if it is known and not expired. */
  keyRecord(key: string): KeyRecord | undefined {
    const record = this.committedKeys.get(key);
    return record && isLive(record, this.clock.now()) ? record : undefined;
  }

  mutate<R>(mutate: Mutation<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ mutate, resolve: resolve as (v: unknown) => void, reject });
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0);
        const draft = new Map(this.committed);
        const now = this.clock.now();
        const draftKeys = new Map([...this.committedKeys].filter(([, r]) => isLive(r, now)));
        const applied: { p: Pending; result: unknown }[] = [];
        for (const p of batch) {
          // A change that fails its own rules is rejected alone; the rest of the batch goes on.
          const before = new Map(draft);
          const keysBefore = new Map(draftKeys);
          try {
            applied.push({ p, result: p.mutate(draft, draftKeys) });
          } catch (err) {
            restore(draft, before);
            restore(draftKeys, keysBefore);
            p.reject(err);
          }
        }
        if (!applied.length) continue;
        try {
          this.db.data = {
            items: [...draft.values()],
            ...(draftKeys.size > 0 && { idempotency: [...draftKeys.values()] }),
          };
          await this.db.write();
          this.committed = draft;
          this.committedKeys = draftKeys;
          this.version += 1;
          for (const { p, result } of applied) p.resolve(result);
        } catch (err) {
          for (const { p } of applied) p.reject(new StoreWriteError((err as Error).message));
        }
      }
    } finally {
      this.writing = false;
    }
  }
}

function restore<K, V>(map: Map<K, V>, from: Map<K, V>): void {
  map.clear();
  for (const [k, v] of from) map.set(k, v);
}

export class StoreWriteError extends Error {
  constructor(reason: string) {
    super(`could not save ideas: ${reason}`);
    this.name = 'StoreWriteError';
  }
}

function checkShape(data: unknown): string | null {
  if (typeof data !== 'object' || data === null || !Array.isArray((data as IdeasFile).items)) {
    return 'does not hold an "items" array';
  }
  const ids = new Set<string>();
  for (const [i, item] of (data as IdeasFile).items.entries()) {
    if (!validateIdea(item)) {
      const first = validateIdea.errors?.[0];
      return `items[${i}] is not a valid idea: ${first ? describeError(first).message : 'invalid'}`;
    }
    if (ids.has(item.id)) return `items[${i}] repeats id ${item.id}`;
    ids.add(item.id);
  }
  const keys = (data as IdeasFile).idempotency;
  if (keys === undefined) return null;
  if (!Array.isArray(keys)) return '"idempotency" is not an array';
  const seen = new Set<string>();
  for (const [i, record] of keys.entries()) {
    if (!validateKey(record)) {
      const first = validateKey.errors?.[0];
      return `idempotency[${i}] is not a valid key record: ${first ? describeError(first).message : 'invalid'}`;
    }
    if (seen.has(record.key)) return `idempotency[${i}] repeats key ${record.key}`;
    seen.add(record.key);
  }
  return null;
}
