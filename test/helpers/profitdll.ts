import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import koffi from 'koffi';
import { ROOT, tempHome } from './cli.js';

/** The fake ProfitDLL (test/fixtures/profitdll-fake) built into `dir` (a fresh folder by default). */
export function buildFakeProfitDll(
  target: 'linux' | 'windows' = 'linux',
  dir = tempHome('ts-profitdll-'),
): string {
  const file = path.join(dir, target === 'windows' ? 'ProfitDLL64.dll' : 'libprofitdll-fake.so');
  execFileSync(process.execPath, [
    path.join(ROOT, 'test', 'fixtures', 'profitdll-fake', 'build.mjs'),
    target,
    file,
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

/** One line command to the fake's control port (FAKEPROFIT_CONTROL_PORT) in another process. */
export function fakeCommand(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no reply to '${line}'`)));
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.endsWith('\n')) {
        socket.end();
        resolve(reply.trimEnd());
      }
    });
    socket.on('error', reject);
  });
}

/** The fake's tape as the exchange printed it: trade n of a ticker, computed by the fake itself. */
export function tapeOf(file: string) {
  const lib = koffi.load(file);
  const tapeTrade = lib.func(
    'void FakeProfit_TapeTrade(const char *t, double rate, int64 start, uint32 n, _Out_ int64 *at, _Out_ double *price, _Out_ int64 *qty)',
  );
  return (ticker: string, rate: number, startMs: number, n: number) => {
    const at = [0];
    const price = [0];
    const qty = [0];
    tapeTrade(ticker, rate, startMs, n, at, price, qty);
    return { ts: Number(at[0]), price: price[0] as number, qty: Number(qty[0]) };
  };
}
