import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, describe, expect, it } from 'vitest';
import { hashFile } from './copy.js';
import { MANIFEST } from './manifest.js';
import { verifyBackup } from './verify.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A backup folder holding `count` real Parquet files (and whatever `extra` adds), with its manifest. */
async function backupWith(count: number, extra: (dir: string) => string[] = () => []): Promise<void> {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ts-verify-'));
  const rel = (i: number) => `data/parquet/trades/date=2026-12-0${1 + (i % 7)}/ticker=WINZ26/${i}.parquet`;
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  for (let i = 0; i < count; i++) {
    mkdirSync(path.dirname(path.join(dir, rel(i))), { recursive: true });
    await conn.run(
      `COPY (SELECT range AS seq, 'WINZ26' AS ticker FROM range(${i * 10}, ${i * 10 + 10})) TO '${path.join(dir, rel(i))}' (FORMAT PARQUET)`,
    );
  }
  conn.closeSync();
  db.closeSync();
  const paths = [...Array.from({ length: count }, (_, i) => rel(i)), ...extra(dir)];
  const files = paths.map((p) => ({ path: p, ...hashFile(path.join(dir, p)) }));
  writeFileSync(path.join(dir, MANIFEST), JSON.stringify({ format: 1, files }));
}

describe('verifyBackup', () => {
  it('reads every Parquet file whole: 300 good ones pass', async () => {
    await backupWith(300);
    const v = await verifyBackup(dir);
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
  });

  it('names the one Parquet file that does not read, among 300 that do (its hash matches the manifest)', async () => {
    const bad = 'data/parquet/trades/date=2026-12-03/ticker=PETR4/garbled.parquet';
    await backupWith(300, (d) => {
      mkdirSync(path.dirname(path.join(d, bad)), { recursive: true });
      writeFileSync(
        path.join(d, bad),
        Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(100, 7), Buffer.from('PAR1')]),
      );
      return [bad];
    });
    const v = await verifyBackup(dir);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.file)).toEqual([bad]);
    expect(v.problems[0]?.reason).toMatch(/Parquet does not read/);
  });
});
