// Sustained ingestion into the durable market-data journal (encode, checksum, one write per batch,
// fdatasync every 50 ms) beside a baseline that appends the same bytes, already encoded, in the
// same batches with the same fsync cadence. Both run in this process against the same disk.
// Then opening a journal of 4 million records (what a restart does first: every segment checked)
// beside decoding every record of it, which is what opening once did.
import { closeSync, fdatasync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { machine, median, ROOT, syntheticTrades } from './lib.mjs';

const dist = (p) => import(path.join(ROOT, 'dist', p));
const BATCH = 1_000; // trades per flush: one event-loop turn of a busy feed
const FSYNC_MS = 50;
const POOL = 100_000;
const SEGMENT_BYTES = 64 << 20; // the production default: both sides roll files and sync at the same size

async function ours(pool, seconds) {
  const { SegmentJournal } = await dist('adapters/storage/segment-journal.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-journal-'));
  const j = new SegmentJournal({
    dir,
    fsyncIntervalMs: FSYNC_MS,
    segmentMaxBytes: SEGMENT_BYTES,
    segmentMaxAgeMs: 60_000,
  });
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < BATCH; i++) j.append(pool[n++ % POOL]);
    j.flush();
    if (n % (BATCH * 50) === 0) await new Promise(setImmediate); // let the fsync callbacks run
  }
  const elapsed = (performance.now() - start) / 1000;
  j.close();
  rmSync(dir, { recursive: true, force: true });
  return n / elapsed;
}

async function baseline(pool, seconds) {
  const { encodeRecord, Views } = await dist('adapters/storage/market-codec.js');
  // The same frames the journal writes (header, CRC, records), encoded before the clock starts.
  const frames = [];
  for (let f = 0; f < POOL / BATCH; f++) {
    const v = new Views(new ArrayBuffer(BATCH * 96 + 16));
    let off = 16;
    for (let i = 0; i < BATCH; i++)
      off = encodeRecord({ ...pool[f * BATCH + i], seq: f * BATCH + i + 1 }, v, off);
    v.u32[0] = off - 16;
    v.u32[1] = crc32(v.u8.subarray(16, off));
    v.u32[2] = BATCH;
    frames.push(v.u8.subarray(0, off));
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-raw-'));
  let files = 0;
  let fd = openSync(path.join(dir, `${files}.seg`), 'w');
  let bytes = 0;
  let syncing = false;
  const timer = setInterval(() => {
    if (syncing) return;
    syncing = true;
    fdatasync(fd, () => {
      syncing = false;
    });
  }, FSYNC_MS);
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    const frame = frames[(n / BATCH) % frames.length];
    writeSync(fd, frame, 0, frame.length);
    n += BATCH;
    bytes += frame.length;
    if (bytes >= SEGMENT_BYTES) {
      fdatasyncSync(fd);
      closeSync(fd);
      fd = openSync(path.join(dir, `${++files}.seg`), 'w');
      bytes = 0;
    }
    if (n % (BATCH * 50) === 0) await new Promise(setImmediate);
  }
  const elapsed = (performance.now() - start) / 1000;
  clearInterval(timer);
  while (syncing) await new Promise((r) => setTimeout(r, 5));
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return n / elapsed;
}

const OPEN_RECORDS = 4_000_000;

/** Opens (verifies) a written journal, and decodes all of it, in ms; medians of `rounds`. */
async function openVsDecode(pool, rounds) {
  const { SegmentJournal } = await dist('adapters/storage/segment-journal.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-journal-open-'));
  const opts = { dir, fsyncIntervalMs: FSYNC_MS, segmentMaxBytes: SEGMENT_BYTES, segmentMaxAgeMs: 60_000 };
  const w = new SegmentJournal(opts);
  for (let n = 0; n < OPEN_RECORDS; ) {
    for (let i = 0; i < BATCH; i++) w.append(pool[n++ % POOL]);
    w.flush();
  }
  w.close();
  const open = [];
  const decode = [];
  let segments = 0;
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    const j = new SegmentJournal(opts);
    open.push(performance.now() - t);
    const sealed = j.sealedSegments();
    segments = sealed.length;
    t = performance.now();
    let records = 0;
    for (const seg of sealed) records += j.readSegment(seg).length;
    decode.push(performance.now() - t);
    j.close();
    if (records !== OPEN_RECORDS) throw new Error(`decoded ${records} of ${OPEN_RECORDS} records`);
  }
  rmSync(dir, { recursive: true, force: true });
  return { openMs: median(open), decodeMs: median(decode), segments };
}

export async function run({ rounds = 3, durationS = 5 } = {}) {
  const pool = syntheticTrades(POOL);
  const a = [];
  const b = [];
  for (let i = 0; i < rounds; i++) {
    a.push(await ours(pool, durationS));
    b.push(await baseline(pool, durationS));
  }
  const journal = Math.round(median(a));
  const raw = Math.round(median(b));
  const opened = await openVsDecode(pool, rounds);
  return {
    machine: machine(),
    rounds,
    durationS,
    results: {
      'journal: encode + frame CRC + write per 1,000 + fdatasync/50 ms (trades/s)': { rps: journal },
      'baseline: raw append of the same bytes, same batches and fsync (trades/s)': { rps: raw },
      'ratio journal / baseline': { rps: Math.round((journal / raw) * 100) / 100 },
      [`open: every record of ${OPEN_RECORDS / 1e6} M (${opened.segments} segments) checked (ms)`]: {
        p50: Math.round(opened.openMs),
      },
      'baseline: decoding every record of the same journal (ms)': { p50: Math.round(opened.decodeMs) },
      'ratio open / decode': { rps: Math.round((opened.openMs / opened.decodeMs) * 100) / 100 },
    },
  };
}
