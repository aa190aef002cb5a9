import { mkdtempSync, readFileSync, statSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allows, KeyStore } from './keys.js';

const home = () => mkdtempSync(path.join(os.tmpdir(), 'ts-keys-'));

describe('API keys', () => {
  it('stores only a salted scrypt hash and verifies the key by id', async () => {
    const store = KeyStore.at(home());
    const { key, record } = await store.create('ops desk', 'trader');
    expect(key).toMatch(new RegExp(`^tsk_${record.id}_[A-Za-z0-9_-]{43}$`));
    const text = readFileSync(store.file, 'utf8');
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.split('_').slice(2).join('_'));
    expect(statSync(store.file).mode & 0o777).toBe(0o600);

    expect(await store.verify(key)).toEqual({ id: record.id, name: 'ops desk', role: 'trader' });
    expect(await store.verify(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)).toBeNull();
    expect(await store.verify(`tsk_0000000000000000_${key.slice(-43)}`)).toBeNull();
    expect(await store.verify('not a key')).toBeNull();
  });

  it('gives two keys different salts, so equal hashes never reveal equal keys', async () => {
    const store = KeyStore.at(home());
    const a = await store.create('a', 'viewer');
    const b = await store.create('b', 'viewer');
    expect(a.record.salt).not.toBe(b.record.salt);
    expect(a.record.hash).not.toBe(b.record.hash);
  });

  it('sees a revoke made by another process once the file changes (checked at most once a second)', async () => {
    let now = 1_000_000;
    const dir = home();
    const gateway = KeyStore.at(dir, () => now);
    const cli = KeyStore.at(dir);
    const { key, record } = await cli.create('bot', 'viewer');
    expect(await gateway.verify(key)).not.toBeNull(); // loads the file
    expect(await cli.revoke(record.id)).toBe(true);
    // Same-second writes can share an mtime on some file systems; the size and inode differ anyway.
    utimesSync(gateway.file, new Date(), new Date(Date.now() + 5_000));
    expect(await gateway.verify(key)).not.toBeNull(); // within the second: cached state
    now += 1_001;
    expect(await gateway.verify(key)).toBeNull();
    expect(await cli.revoke('nope')).toBe(false);
  });

  it('keeps the loaded keys when the file turns unreadable, and reports it', async () => {
    let now = 0;
    const dir = home();
    const store = KeyStore.at(dir, () => now);
    const { key } = await store.create('k', 'admin');
    await store.load();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(store.file, '{ broken');
    now += 2_000;
    expect(await store.verify(key)).not.toBeNull();
    expect(store.health()).toMatchObject({ status: 'degraded' });
  });

  it('writes a first admin key to a 0600 file only when no key file exists', async () => {
    const dir = home();
    const store = KeyStore.at(dir);
    const file = await store.ensureInitialAdmin();
    expect(file).toBe(path.join(dir, 'gateway', 'initial-admin-key'));
    expect(statSync(file ?? '').mode & 0o777).toBe(0o600);
    const key = readFileSync(file ?? '', 'utf8').trim();
    expect((await store.verify(key))?.role).toBe('admin');
    expect(await KeyStore.at(dir).ensureInitialAdmin()).toBeNull();
  });

  it('ranks roles: admin can do what a trader can, a trader what a viewer can', () => {
    expect(allows('admin', 'trader')).toBe(true);
    expect(allows('trader', 'viewer')).toBe(true);
    expect(allows('viewer', 'trader')).toBe(false);
    expect(allows('trader', 'admin')).toBe(false);
  });
});
