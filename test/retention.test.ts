import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempHome } from './helpers/cli.js';

const day = (offsetDays: number) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(
    new Date(Date.now() + offsetDays * 86_400_000),
  );

describe('tradingsystem retention', () => {
  it('deletes Parquet partitions older than the retention and keeps the rest and the journal', async () => {
    const home = tempHome('ts-retention-');
    const dirs = {
      old: path.join(home, 'parquet', 'trades', `date=${day(-91)}`, 'ticker=WINZ26'),
      oldQuotes: path.join(home, 'parquet', 'quotes', `date=${day(-120)}`, 'ticker=PETR4'),
      edge: path.join(home, 'parquet', 'trades', `date=${day(-90)}`, 'ticker=WINZ26'),
      recent: path.join(home, 'parquet', 'trades', `date=${day(0)}`, 'ticker=WINZ26'),
      journal: path.join(home, 'journal', 'marketdata'),
    };
    for (const d of Object.values(dirs)) {
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'seg-0000000000000001.parquet'), 'x');
    }
    const env = {
      ...process.env,
      TRADINGSYSTEM_HOME: home,
      TRADINGSYSTEM_CONFIG: path.join(home, 'none.json'),
    };
    writeFileSync(path.join(home, 'none.json'), '{}');
    const res = await runCli(['retention'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`date=${day(-91)}`);
    expect(existsSync(path.dirname(dirs.old))).toBe(false);
    expect(existsSync(path.dirname(dirs.oldQuotes))).toBe(false);
    expect(existsSync(dirs.edge)).toBe(true);
    expect(existsSync(dirs.recent)).toBe(true);
    expect(existsSync(dirs.journal)).toBe(true);

    const bad = await runCli(['retention', '--days', 'zero'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--days');
  });
});
