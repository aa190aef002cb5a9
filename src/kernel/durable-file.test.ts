import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DurableJsonFile, UnusableFileError } from './durable-file.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'ts-json-'));

describe('DurableJsonFile', () => {
  it('reads null for a missing file and round-trips data', async () => {
    const file = path.join(tmp(), 'db', 'x.json');
    const adapter = new DurableJsonFile<{ a: number }>(file);
    expect(await adapter.read()).toBeNull();
    await adapter.write({ a: 1 });
    expect(await adapter.read()).toEqual({ a: 1 });
    expect(readdirSync(path.dirname(file))).toEqual(['x.json']); // no temp files left
  });

  it('reports a corrupt file and leaves it byte for byte', async () => {
    const file = path.join(tmp(), 'x.json');
    writeFileSync(file, '{"items": [ {"id": 1,');
    const adapter = new DurableJsonFile(file);
    await expect(adapter.read()).rejects.toBeInstanceOf(UnusableFileError);
    expect(readFileSync(file, 'utf8')).toBe('{"items": [ {"id": 1,');
  });

  it('keeps the old content when a write cannot happen', async () => {
    const dir = tmp();
    const file = path.join(dir, 'x.json');
    const adapter = new DurableJsonFile<{ a: number }>(file);
    await adapter.write({ a: 1 });
    // The next temp file's name is taken by a directory: the write fails even for root.
    mkdirSync(path.join(dir, `.x.json.${process.pid}.2.tmp`));
    await expect(adapter.write({ a: 2 })).rejects.toThrow();
    expect(await adapter.read()).toEqual({ a: 1 });
  });
});
