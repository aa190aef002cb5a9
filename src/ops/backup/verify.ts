import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { hashFile } from './copy.js';
import { MANIFEST, type Manifest, VERIFICATION, type Verification } from './manifest.js';
import { NO_PROGRESS, type Progress } from './take.js';

/**
 * Checks a backup file by file: each is there with its size and SHA-256, each SQLite file passes
 * `integrity_check`, each JSON file parses, each Parquet file reads whole with DuckDB. The outcome is
 * kept in `verification.json` (what `backup list` shows) and returned.
 */
export async function verifyBackup(dir: string, progress: Progress = NO_PROGRESS): Promise<Verification> {
  const started = Date.now();
  const problems: Verification['problems'] = [];
  let manifest: Manifest | null = null;
  try {
    manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as Manifest;
    if (!Array.isArray(manifest.files)) throw new Error('no file list');
  } catch (err) {
    problems.push({ file: MANIFEST, reason: `missing or unreadable (${(err as Error).message})` });
  }
  const parquet: string[] = [];
  if (manifest) {
    progress.planned(
      manifest.files.length,
      manifest.files.reduce((n, f) => n + f.bytes, 0),
    );
    for (const f of manifest.files) {
      const file = path.join(dir, f.path);
      const problem = checkFile(file, f.bytes, f.sha256);
      if (problem) problems.push({ file: f.path, reason: problem });
      else if (f.path.endsWith('.parquet')) parquet.push(f.path);
      progress.done(f.path, f.bytes);
    }
    for (const p of await unreadableParquet(dir, parquet)) problems.push(p);
  }
  const verification: Verification = {
    at: new Date().toISOString(),
    ok: problems.length === 0,
    problems,
    ms: Date.now() - started,
  };
  if (existsSync(dir)) {
    writeFileSync(path.join(dir, VERIFICATION), `${JSON.stringify(verification, null, 2)}\n`, {
      mode: 0o600,
    });
  }
  return verification;
}

/** What is wrong with one file of a backup, or null. */
function checkFile(file: string, bytes: number, sha256: string): string | null {
  if (!existsSync(file)) return 'missing';
  const got = hashFile(file);
  if (got.bytes !== bytes) return `${got.bytes} bytes, the manifest says ${bytes}`;
  if (got.sha256 !== sha256) return 'SHA-256 differs from the manifest';
  if (file.endsWith('.sqlite')) return sqliteProblem(file);
  if (file.endsWith('.json')) {
    try {
      JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      return `not valid JSON (${(err as Error).message})`;
    }
  }
  return null;
}

function sqliteProblem(file: string): string | null {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const result = db.pragma('integrity_check', { simple: true });
    return result === 'ok' ? null : `integrity_check: ${String(result)}`;
  } catch (err) {
    return `not a usable SQLite file (${(err as Error).message})`;
  } finally {
    db?.close();
  }
}

/** Parquet files read together by one query; a chunk that fails is read again file by file. */
const PARQUET_CHUNK = 256;

/** Parquet files that do not read whole (every value of every column decoded). */
async function unreadableParquet(dir: string, files: string[]): Promise<Verification['problems']> {
  if (files.length === 0) return [];
  // Loaded only here: DuckDB is large and no other command needs it.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const readWhole = (chunk: string[]) => {
    const list = chunk.map((f) => `'${path.join(dir, f).replaceAll("'", "''")}'`).join(', ');
    return conn.run(
      `SELECT sum(length(columns(*)::VARCHAR)) FROM read_parquet([${list}], union_by_name = true)`,
    );
  };
  const problems: Verification['problems'] = [];
  try {
    for (let i = 0; i < files.length; i += PARQUET_CHUNK) {
      const chunk = files.slice(i, i + PARQUET_CHUNK);
      try {
        await readWhole(chunk);
        continue;
      } catch {
        // One of them is bad: find which.
      }
      for (const f of chunk) {
        try {
          await readWhole([f]);
        } catch (err) {
          problems.push({ file: f, reason: `Parquet does not read: ${(err as Error).message}` });
        }
      }
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return problems;
}
