import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Handbook } from './handbook.js';

const page = (title: string) => `---\ntitle: ${title}\n---\nBody of ${title}.\n`;
const open: Handbook[] = [];

async function started(dir: string): Promise<Handbook> {
  const handbook = new Handbook(dir, { logger: pino({ level: 'silent' }), debounceMs: 30, pollMs: 50 });
  open.push(handbook);
  await handbook.start();
  return handbook;
}

async function eventually(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

describe('Handbook', () => {
  it('rebuilds the index when pages are added, changed, renamed and deleted', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-docs-watch-'));
    writeFileSync(path.join(dir, 'a.md'), page('Alpha'));
    const handbook = await started(dir);
    const titles = () => [...handbook.current().docs.values()].map((d) => d.frontmatter.title).sort();
    expect(titles()).toEqual(['Alpha']);

    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'b.md'), page('Beta'));
    await eventually('a page in a new subfolder', () => titles().includes('Beta'));
    writeFileSync(path.join(dir, 'a.md'), page('Alpha two'));
    await eventually('the changed title', () => titles().includes('Alpha two'));
    renameSync(path.join(dir, 'sub', 'b.md'), path.join(dir, 'sub', 'c.md'));
    await eventually('the renamed page', () => handbook.current().docs.has('sub/c'));
    rmSync(path.join(dir, 'a.md'));
    await eventually('the deleted page gone', () => titles().join() === 'Beta');
  });

  it('starts without its folder and picks it up once created, and again after removal', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'ts-docs-late-'));
    const dir = path.join(base, 'handbook');
    const handbook = await started(dir);
    expect(handbook.current().problem).toMatch(/does not exist/);

    mkdirSync(dir);
    writeFileSync(path.join(dir, 'late.md'), page('Late'));
    await eventually('the late folder', () => handbook.current().docs.has('late'));

    rmSync(dir, { recursive: true });
    await eventually('the removal noticed', () => handbook.current().problem !== undefined);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'again.md'), page('Again'));
    await eventually('the recreated folder', () => handbook.current().docs.has('again'));
    writeFileSync(path.join(dir, 'more.md'), page('More'));
    await eventually('a change in the recreated folder', () => handbook.current().docs.has('more'));
  });

  it('stops reloading once closed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-docs-closed-'));
    const handbook = await started(dir);
    await handbook.close();
    writeFileSync(path.join(dir, 'x.md'), page('X'));
    await new Promise((r) => setTimeout(r, 200));
    expect(handbook.current().docs.size).toBe(0);
  });
});
