import { existsSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { connectFully, manualSim, turns } from './test-support.js';
import { VenueUnavailableError } from './venue-store.js';

const venueFile = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'ts-venue-store-')), 'venue.sqlite');

/** A venue with a few filled orders, cleanly closed (everything checkpointed into the main file). */
async function tradedVenue(): Promise<string> {
  const file = venueFile();
  const { adapter, recorder } = manualSim({ venueFile: file });
  await connectFully(adapter, recorder);
  for (let i = 0; i < 50; i++) {
    await adapter.sendOrder({
      clientOrderId: `s${i}`,
      account: 'SIM-001',
      symbol: 'WINZ26',
      exchange: 'F',
      side: i % 2 ? 'SELL' : 'BUY',
      type: 'MARKET',
      quantity: 1 + (i % 3),
      timeInForce: 'DAY',
    });
  }
  await turns();
  adapter.close();
  return file;
}

const open = (file: string) => () => manualSim({ venueFile: file });

describe('venue file', () => {
  it('starts a new venue in WAL mode when the file is missing', () => {
    const file = venueFile();
    open(file)().adapter.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('reloads a cleanly closed venue', async () => {
    const file = await tradedVenue();
    const { adapter } = manualSim({ venueFile: file });
    expect(await adapter.orderReports('SIM-001', 0)).toHaveLength(50);
  });

  it('refuses an empty (torn at creation) file instead of starting empty', () => {
    const file = venueFile();
    writeFileSync(file, '');
    expect(open(file)).toThrow(VenueUnavailableError);
    expect(open(file)).toThrow(/unusable.*no such table: meta/);
    expect(statSync(file).size).toBe(0);
  });

  it('refuses a file that is not a database, and leaves it untouched', () => {
    const file = venueFile();
    writeFileSync(file, 'x'.repeat(8_192));
    expect(open(file)).toThrow(/simulated venue .* is unusable/);
    expect(readFileSync(file, 'utf8')).toBe('x'.repeat(8_192));
  });

  it('refuses a truncated file', async () => {
    const file = await tradedVenue();
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expect(open(file)).toThrow(/unusable \((integrity check failed|database disk image is malformed)/);
  });

  it('refuses a venue whose positions disagree with its fills', async () => {
    const file = await tradedVenue();
    const db = new Database(file);
    db.prepare('UPDATE positions SET quantity = quantity + 1').run();
    db.close();
    expect(open(file)).toThrow(/positions disagree with the stored fills/);
  });

  it('refuses a missing file whose WAL is still there', () => {
    const file = venueFile();
    writeFileSync(`${file}-wal`, '');
    expect(open(file)).toThrow(/missing but its WAL exists/);
    expect(existsSync(file)).toBe(false);
  });
});
