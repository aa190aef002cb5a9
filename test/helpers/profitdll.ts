import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { ROOT, tempHome } from './cli.js';

/** The fake ProfitDLL (test/fixtures/profitdll-fake), built with `cc` into a fresh folder. */
export function buildFakeProfitDll(): string {
  const file = path.join(tempHome('ts-profitdll-'), 'libprofitdll-fake.so');
  execFileSync('cc', [
    '-shared',
    '-fPIC',
    '-O2',
    '-o',
    file,
    path.join(ROOT, 'test', 'fixtures', 'profitdll-fake', 'fake.c'),
    '-lpthread',
  ]);
  return file;
}

/** A credentials file as an operator writes it (mode 600), in `dir`. */
export function writeCredentials(dir: string): string {
  const file = path.join(dir, 'profitdll.credentials');
  writeFileSync(
    file,
    'PROFITDLL_ACTIVATION_KEY=key-123\nPROFITDLL_USER=trader@example.com\nPROFITDLL_PASSWORD=s3cret-pass\nPROFITDLL_ROUTING_PASSWORD=sign-pass\n',
    { mode: 0o600 },
  );
  return file;
}

/** The fake's test-control exports, from the library loaded in this process. */
export function fakeControls(file: string) {
  const lib = koffi.load(file);
  return {
    emitTrade: lib.func(
      'uint32 FakeProfit_EmitTrade(const char *t, int64 at, double p, int64 q, int32 b, int32 s, uint8 ty)',
    ) as (
      ticker: string,
      atMs: number,
      price: number,
      qty: number,
      buy: number,
      sell: number,
      type: number,
    ) => number,
    disconnect: lib.func('void FakeProfit_Disconnect()') as () => void,
    reconnect: lib.func('void FakeProfit_Reconnect()') as () => void,
    failLogin: lib.func('void FakeProfit_FailLogin(int32 result)') as (result: number) => void,
    failActivation: lib.func('void FakeProfit_FailActivation(int32 result)') as (result: number) => void,
    loginAttempts: lib.func('uint64 FakeProfit_LoginAttempts()') as () => number | bigint,
    badTranslations: lib.func('uint64 FakeProfit_BadTranslations()') as () => number | bigint,
    fillOrder: lib.func('int32 FakeProfit_FillOrder(int64 id, int64 qty, double price)') as (
      localId: number,
      qty: number,
      price: number,
    ) => number,
    rejectNextOrder: lib.func('void FakeProfit_RejectNextOrder(const char *text)') as (text: string) => void,
    emitBook: lib.func('int32 FakeProfit_EmitBook(const char *t, int32 side, double price, int32 qty)') as (
      ticker: string,
      side: number,
      price: number,
      qty: number,
    ) => number,
  };
}
