import type { Dirent } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Frontmatter, parsePage } from './frontmatter.js';
import { plainText, renderHtml } from './render.js';
import { buildIndex, type SearchIndex } from './search.js';

export interface Doc {
  slug: string;
  /** Path relative to the handbook folder, `/`-separated. */
  file: string;
  frontmatter: Frontmatter;
  markdown: string;
  html: string;
  /** The body as plain text, for search snippets. */
  text: string;
}

export interface InvalidFile {
  file: string;
  errors: string[];
}

/** One immutable snapshot of the handbook; a reload builds a new one and swaps it in. */
export interface HandbookState {
  dir: string;
  /** Why the folder could not be read at all (missing, not a folder); undefined when it was. */
  problem?: string;
  docs: ReadonlyMap<string, Doc>;
  invalid: readonly InvalidFile[];
  index: SearchIndex;
}

interface Found {
  rel: string;
  abs: string;
}

/** Reads every `*.md` under `dir`. Never throws: a bad file becomes an entry in `invalid`. */
export async function loadHandbook(dir: string): Promise<HandbookState> {
  const root = path.resolve(dir);
  let rootReal: string;
  try {
    rootReal = await realpath(root);
    if (!(await stat(rootReal)).isDirectory()) return empty(root, `handbook folder ${root} is not a folder`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`;
    return empty(root, `handbook folder ${root} ${why}`);
  }

  const found: Found[] = [];
  const invalid: InvalidFile[] = [];
  await walk(rootReal, rootReal, '', new Set([rootReal]), found, invalid);

  const docs = new Map<string, Doc>();
  for (const { rel, abs } of found) {
    try {
      const parsed = parsePage(await readFile(abs, 'utf8'));
      if (!parsed.ok) {
        invalid.push({ file: rel, errors: parsed.errors });
        continue;
      }
      const slug = rel.slice(0, -'.md'.length);
      const { body } = parsed;
      docs.set(slug, {
        slug,
        file: rel,
        frontmatter: parsed.frontmatter,
        markdown: body,
        html: renderHtml(body),
        text: plainText(body),
      });
    } catch (err) {
      invalid.push({ file: rel, errors: [`cannot be read: ${(err as Error).message}`] });
    }
  }
  invalid.sort((a, b) => a.file.localeCompare(b.file));
  return { dir: root, docs, invalid, index: buildIndex(searchables(docs)) };
}

function empty(dir: string, problem: string): HandbookState {
  return { dir, problem, docs: new Map(), invalid: [], index: buildIndex([]) };
}

const searchables = (docs: ReadonlyMap<string, Doc>) =>
  [...docs.values()].map((d) => ({
    slug: d.slug,
    title: d.frontmatter.title,
    summary: d.frontmatter.summary ?? '',
    tags: d.frontmatter.tags ?? [],
    text: d.text,
  }));

const inside = (root: string, p: string) => p === root || p.startsWith(root + path.sep);

/**
 * Collects markdown files below `dirAbs`. Hidden entries are skipped; a symlink is followed only
 * when its target stays inside the handbook, and each real folder is visited once (no cycles).
 */
async function walk(
  root: string,
  dirAbs: string,
  relDir: string,
  seen: Set<string>,
  found: Found[],
  invalid: InvalidFile[],
): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dirAbs, { withFileTypes: true });
  } catch (err) {
    invalid.push({ file: relDir || '.', errors: [`folder cannot be read: ${(err as Error).message}`] });
    return;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
    const isMarkdown = entry.name.endsWith('.md');
    let abs = path.join(dirAbs, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      try {
        abs = await realpath(abs);
        const target = await stat(abs);
        isDir = target.isDirectory();
        isFile = target.isFile();
      } catch {
        if (isMarkdown) invalid.push({ file: rel, errors: ['is a broken symlink'] });
        continue;
      }
      if (!inside(root, abs)) {
        if (isMarkdown || isDir)
          invalid.push({ file: rel, errors: ['is a symlink to outside the handbook folder; not followed'] });
        continue;
      }
    }
    if (isDir && !seen.has(abs)) {
      seen.add(abs);
      await walk(root, abs, rel, seen, found, invalid);
    } else if (isFile && isMarkdown) {
      found.push({ rel, abs });
    }
  }
}
