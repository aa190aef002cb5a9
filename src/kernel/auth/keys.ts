import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DurableJsonFile } from '../durable-file.js';
import type { Logger } from '../logger.js';
import type { HealthCheckResult } from '../service.js';
import { Gate } from './failures.js';

export const ROLES = ['viewer', 'trader', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** Each role can do what the roles before it can. */
const RANK: Record<Role, number> = { viewer: 0, trader: 1, admin: 2 };
export const allows = (have: Role, need: Role) => RANK[have] >= RANK[need];

/** Every account: only for a key whose holder may trade for anyone (an admin's). */
export const ALL_ACCOUNTS = '*';
/** An account id as the order manager takes it. */
export const ACCOUNT_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The accounts a key may trade for, with `configured` standing in for a key file that predates them. */
export function accountsOf(record: Pick<KeyRecord, 'accounts'>, configured: string): readonly string[] {
  return record.accounts ?? [configured];
}

/** A list of accounts for a key, or why not: `*` alone, or account ids. */
export function accountsProblem(accounts: readonly string[]): string | null {
  if (accounts.length === 0) return 'at least one account is needed';
  if (accounts.includes(ALL_ACCOUNTS)) return accounts.length === 1 ? null : `'*' stands alone`;
  const bad = accounts.find((a) => !ACCOUNT_PATTERN.test(a));
  return bad === undefined ? null : `'${bad}' is not an account id (1-64 of A-Z a-z 0-9 _ . : -)`;
}

export interface KeyRecord {
  id: string;
  name: string;
  role: Role;
  salt: string;
  hash: string;
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
  /**
   * The trading accounts the key may name on an order; `['*']` is every account (for admins). Key
   * files written before this field existed have none: such a key gets the configured account only
   * (the migration is that default, applied when read; the CLI writes the field on its next save).
   */
  accounts?: string[];
}
/** What a verified key tells a request: never the secret. */
export type KeyIdentity = Pick<KeyRecord, 'id' | 'name' | 'role'>;
interface KeysFile {
  keys: KeyRecord[];
}

const SCRYPT: ScryptOptions = { N: 16_384, r: 8, p: 1 };
const HASH_BYTES = 32;
const KEY_PATTERN = /^tsk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const RELOAD_EVERY_MS = 1_000;
/** Verified keys remembered at most; beyond it the oldest is forgotten (and verified again when used). */
const MAX_CACHED = 10_000;

export interface KeyStoreOptions {
  /** scrypt verifications at once; more wait in a queue of `verifyQueue`, and beyond it are refused. */
  verifyConcurrency: number;
  verifyQueue: number;
  /** How long a verified key is trusted without scrypt. */
  verifiedCacheMs: number;
}
const DEFAULT_OPTIONS: KeyStoreOptions = { verifyConcurrency: 4, verifyQueue: 64, verifiedCacheMs: 60_000 };

const derive = (key: string, salt: string) =>
  new Promise<Buffer>((resolve, reject) =>
    scrypt(key, Buffer.from(salt, 'base64'), HASH_BYTES, SCRYPT, (err, out) =>
      err ? reject(err) : resolve(out),
    ),
  );
const fastDigest = (key: string) => createHash('sha256').update(key).digest('base64');

export const INITIAL_ADMIN_KEY_FILE = 'initial-admin-key';
/** How answers name the keys file: never by its path. */
export const KEYS_FILE_SHOWN_AS = 'the API keys file';

/** Names compare without case or surrounding space: `Initial-Admin ` is `initial-admin`. */
const sameName = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/** A key is being created under the name of an active key. */
export class DuplicateKeyNameError extends Error {
  constructor(
    readonly keyName: string,
    readonly existingId: string,
  ) {
    super(
      `an active key is already named '${keyName}' (id ${existingId}); choose another name or revoke it first`,
    );
    this.name = 'DuplicateKeyNameError';
  }
}

/**
 * API keys in `{home}/gateway/keys.json`, scrypt-hashed with a salt per key. A key is
 * `tsk_<id>_<secret>`: lookup by id, constant-time comparison of the hash. The CLI edits the file
 * directly; a running gateway re-reads it when its mtime changes (checked at most once a second).
 */
export class KeyStore {
  private readonly adapter: DurableJsonFile<KeysFile>;
  private byId = new Map<string, KeyRecord>();
  /** SHA-256 of a presented key → the id it verified as and until when, so scrypt runs once per key. */
  private verified = new Map<string, { id: string; until: number }>();
  private readonly gate: Gate;
  private readonly opts: KeyStoreOptions;
  /**
   * What a key with an unknown or revoked id is checked against: the same scrypt as a real key, so
   * the answer's timing does not tell which ids exist.
   */
  private readonly decoy = {
    salt: randomBytes(16).toString('base64'),
    hash: randomBytes(HASH_BYTES).toString('base64'),
  };
  private stamp = '';
  private checkedAt = 0;
  /** Why the last re-read failed; the keys loaded before it stay in force. */
  private problem: string | null = null;

  constructor(
    readonly file: string,
    private readonly now: () => number = Date.now,
    private readonly logger?: Logger,
    opts: Partial<KeyStoreOptions> = {},
  ) {
    this.adapter = new DurableJsonFile<KeysFile>(file);
    this.opts = { ...DEFAULT_OPTIONS, ...opts };
    this.gate = new Gate(this.opts.verifyConcurrency, this.opts.verifyQueue);
  }

  static at(home: string, now?: () => number, logger?: Logger, opts?: Partial<KeyStoreOptions>): KeyStore {
    return new KeyStore(path.join(home, 'gateway', 'keys.json'), now, logger, opts);
  }

  /** Loads the file; false when there is none yet. */
  async load(): Promise<boolean> {
    const stamp = this.fileStamp();
    const data = await this.adapter.read();
    this.byId = new Map((data?.keys ?? []).map((k) => [k.id, k]));
    this.verified.clear();
    this.stamp = stamp;
    this.checkedAt = this.now();
    this.problem = null;
    return data !== null;
  }

  /** Never the file's path: a health answer may reach people who should not learn the layout. */
  health(): HealthCheckResult {
    const active = this.list().filter((k) => !k.revokedAt).length;
    return this.problem
      ? {
          status: 'degraded',
          detail: 'the keys file could not be re-read; the keys loaded before stay in force',
          active,
        }
      : { status: 'ok', active };
  }

  list(): KeyRecord[] {
    return [...this.byId.values()];
  }

  async create(name: string, role: Role, accounts?: string[]): Promise<{ key: string; record: KeyRecord }> {
    const problem = accounts && accountsProblem(accounts);
    if (problem) throw new Error(`accounts: ${problem}`);
    await this.load();
    // The audit trail names keys: a second active 'initial-admin' would be a disguise.
    const taken = this.list().find((k) => !k.revokedAt && sameName(k.name, name));
    if (taken) throw new DuplicateKeyNameError(name, taken.id);
    const id = randomBytes(8).toString('hex');
    const key = `tsk_${id}_${randomBytes(32).toString('base64url')}`;
    const salt = randomBytes(16).toString('base64');
    const hash = (await derive(key, salt)).toString('base64');
    const record: KeyRecord = { id, name, role, salt, hash, createdAt: new Date(this.now()).toISOString() };
    if (accounts) record.accounts = [...accounts];
    this.byId.set(id, record);
    await this.save();
    return { key, record };
  }

  /** Sets the accounts a key may trade for; false when no such key exists. */
  async setAccounts(id: string, accounts: string[]): Promise<boolean> {
    const problem = accountsProblem(accounts);
    if (problem) throw new Error(`accounts: ${problem}`);
    await this.load();
    const record = this.byId.get(id);
    if (!record) return false;
    record.accounts = [...accounts];
    await this.save();
    return true;
  }

  /** The record of an unrevoked key by id (as last read; no secret is checked here). */
  recordOf(id: string): KeyRecord | undefined {
    const record = this.byId.get(id);
    return record && !record.revokedAt ? record : undefined;
  }

  /** Marks a key revoked; false when no such key exists. */
  async revoke(id: string): Promise<boolean> {
    await this.load();
    const record = this.byId.get(id);
    if (!record) return false;
    record.revokedAt ??= new Date(this.now()).toISOString();
    await this.save();
    return true;
  }

  /**
   * The identity of a valid, unrevoked key, or null. A wrong secret costs one scrypt whether or not
   * the id exists; a busy store (every slot and the queue taken) throws VerifyBusyError.
   */
  async verify(presented: string): Promise<KeyIdentity | null> {
    const id = KEY_PATTERN.exec(presented)?.[1];
    if (!id) return null;
    // An unknown id looks at the file now (one stat), so a key just created works at once.
    await this.refresh(!this.byId.has(id));
    const found = this.byId.get(id);
    const record = found && !found.revokedAt ? found : undefined;
    const digest = fastDigest(presented);
    const cached = this.verified.get(digest);
    if (!record || cached?.id !== record.id || cached.until <= this.now()) {
      const target = record ?? this.decoy;
      const expected = Buffer.from(target.hash, 'base64');
      const actual = await this.gate.run(() => derive(presented, target.salt));
      const match = expected.length === actual.length && timingSafeEqual(expected, actual);
      // The file may have been re-read (a revocation) while scrypt ran: judge by what holds now.
      const current = this.byId.get(id);
      if (!record || !match || !current || current.revokedAt || current.hash !== record.hash) return null;
      this.remember(digest, record.id);
    }
    record.lastUsedAt = new Date(this.now()).toISOString();
    return { id: record.id, name: record.name, role: record.role };
  }

  private remember(digest: string, id: string): void {
    if (this.opts.verifiedCacheMs <= 0) return;
    this.verified.delete(digest);
    if (this.verified.size >= MAX_CACHED) this.verified.delete(this.verified.keys().next().value ?? '');
    this.verified.set(digest, { id, until: this.now() + this.opts.verifiedCacheMs });
  }

  /**
   * The identity behind a key id while the key is unrevoked: a token signed for a key dies with it.
   */
  async identityOf(id: string): Promise<KeyIdentity | null> {
    await this.refresh(!this.byId.has(id));
    const record = this.byId.get(id);
    return record && !record.revokedAt ? { id: record.id, name: record.name, role: record.role } : null;
  }

  /**
   * First start: with no key file, creates an admin key and writes it to a 0600 file for the
   * operator. Returns that file's path, or null when keys already existed.
   */
  async ensureInitialAdmin(): Promise<string | null> {
    if (await this.load()) return null;
    const { key } = await this.create('initial-admin', 'admin', [ALL_ACCOUNTS]);
    const file = path.join(path.dirname(this.file), INITIAL_ADMIN_KEY_FILE);
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'w' });
    return file;
  }

  /** Re-reads the file now if it changed (one stat): for a caller that keeps checking on its own clock. */
  reloadIfChanged(): Promise<void> {
    return this.refresh(true);
  }

  private async refresh(force = false): Promise<void> {
    if (!force && this.now() - this.checkedAt < RELOAD_EVERY_MS) return;
    this.checkedAt = this.now();
    const stamp = this.fileStamp();
    if (stamp === this.stamp) return;
    try {
      await this.load();
    } catch (err) {
      // A broken edit must not lock everyone out (or let anyone in): keep the keys we had.
      this.stamp = stamp;
      this.problem = (err as Error).message;
      this.logger?.error({ event: 'gateway.keys_unreadable', err: this.problem }, 'keys file unreadable');
    }
  }

  private fileStamp(): string {
    try {
      const s = statSync(this.file);
      return `${s.ino}:${s.mtimeMs}:${s.size}`;
    } catch {
      return 'missing';
    }
  }

  private async save(): Promise<void> {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    // lastUsedAt lives in memory only: the gateway never writes this file, so it cannot undo a revoke.
    const keys = this.list().map(({ lastUsedAt: _used, ...k }) => k);
    await this.adapter.write({ keys });
    this.stamp = this.fileStamp();
    this.verified.clear();
  }
}
