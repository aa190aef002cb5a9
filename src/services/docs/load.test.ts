import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHandbook } from './load.js';

function tree(files: Record<string, string>): string {
  const base = mkdtempSync(path.join(os.tmpdir(), 'ts-docs-load-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(base, rel)), { recursive: true });
    writeFileSync(path.join(base, rel), content);
  }
  return base;
}
const page = (title: string, body = 'Body.') => `---\ntitle: ${title}\n---\n${body}\n`;

describe('loadHandbook', () => {
  it('indexes markdown recursively by slug and skips hidden and non-markdown files', async () => {
    const dir = tree({
      'intro.md': page('Intro'),
      'runbooks/broker-connection-lost.md': page('Broker lost'),
      'runbooks/deep/er.md': page('Deeper'),
      '.drafts/hidden.md': page('Hidden'),
      'notes.txt': 'not markdown',
    });
    const state = await loadHandbook(dir);
    expect([...state.docs.keys()].sort()).toEqual([
      'intro',
      'runbooks/broker-connection-lost',
      'runbooks/deep/er',
    ]);
    expect(state.problem).toBeUndefined();
    expect(state.invalid).toEqual([]);
    expect(state.docs.get('intro')).toMatchObject({ file: 'intro.md', markdown: 'Body.\n', text: 'Body.' });
  });

  it('does not follow symlinks that leave the folder, follows those that stay, survives cycles', async () => {
    const base = tree({
      'outside.md': page('Outside'),
      'outside-dir/leak.md': page('Leak'),
      'handbook/real.md': page('Real'),
    });
    const dir = path.join(base, 'handbook');
    symlinkSync(path.join(base, 'outside.md'), path.join(dir, 'escape.md'));
    symlinkSync(path.join(base, 'outside-dir'), path.join(dir, 'escape-dir'));
    symlinkSync(path.join(dir, 'real.md'), path.join(dir, 'alias.md'));
    symlinkSync(dir, path.join(dir, 'loop'));
    symlinkSync(path.join(dir, 'nowhere.md'), path.join(dir, 'broken.md'));
    const state = await loadHandbook(dir);
    expect([...state.docs.keys()].sort()).toEqual(['alias', 'real']);
    expect(state.invalid).toEqual([
      { file: 'broken.md', errors: ['is a broken symlink'] },
      { file: 'escape-dir', errors: ['is a symlink to outside the handbook folder; not followed'] },
      { file: 'escape.md', errors: ['is a symlink to outside the handbook folder; not followed'] },
    ]);
  });

  it('lists pages with bad frontmatter as invalid instead of failing', async () => {
    const dir = tree({ 'ok.md': page('Fine'), 'bad.md': '# no frontmatter\n' });
    const state = await loadHandbook(dir);
    expect([...state.docs.keys()]).toEqual(['ok']);
    expect(state.invalid).toEqual([{ file: 'bad.md', errors: [expect.stringContaining('missing')] }]);
  });

  it('reports a missing folder or a file in its place as a problem, with an empty index', async () => {
    const base = tree({ 'file.md': page('x') });
    const missing = await loadHandbook(path.join(base, 'nope'));
    expect(missing.problem).toMatch(/does not exist/);
    expect(missing.docs.size).toBe(0);
    expect((await loadHandbook(path.join(base, 'file.md'))).problem).toMatch(/is not a folder/);
  });
});
