import koffi, { type TypeObject } from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLBACKS, loadProfitDll, type ProfitDll, RECORDS } from '../src/adapters/broker/profitdll/ffi.js';
import { waitFor } from './helpers/cli.js';
import { buildFakeProfitDll, fakeControls } from './helpers/profitdll.js';

/**
 * The ProfitDLL declarations against the fake DLL in C (test/fixtures/profitdll-fake), built here
 * with `cc`: the records have the DLL's sizes, and its own thread's callbacks arrive, decoded, on
 * Node's. The adapter on these declarations is tested in profitdll-adapter.test.ts.
 */
const TC_LAST_PACKET = 2;
const NL_INVALID_ARGS = -2147483645;

let dll: ProfitDll;
let control: ReturnType<typeof fakeControls>;
const registered: unknown[] = [];
const register = <T>(fn: T, proto: TypeObject) => {
  const handle = koffi.register(fn as never, koffi.pointer(proto));
  registered.push(handle);
  return handle;
};
const finalize = () =>
  new Promise<number>((resolve, reject) =>
    dll.DLLFinalize.async((err: unknown, rc: number) => (err ? reject(err) : resolve(rc))),
  );
/** Exchange time as the DLL writes it: `dd/mm/yyyy hh:nn:ss.zzz`, São Paulo (UTC-3). */
const dllDate = (ms: number) => {
  const d = new Date(ms - 3 * 3_600_000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCDate())}/${p(d.getUTCMonth() + 1)}/${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
};

beforeAll(() => {
  const file = buildFakeProfitDll();
  dll = loadProfitDll(file);
  control = fakeControls(file);
});

afterAll(() => {
  for (const handle of registered) koffi.unregister(handle as never);
});

describe('ProfitDLL declarations against the fake DLL', () => {
  it('declare every record with the size the DLL has (ABI notes, §1.3)', () => {
    const sizes = Object.fromEntries(
      Object.entries(RECORDS).map(([name, type]) => [name, koffi.sizeof(type)]),
    );
    expect(sizes).toEqual({
      TSystemTime: 16,
      TAssetIDRec: 20,
      TConnectorAccountIdentifier: 32,
      TConnectorAccountIdentifierOut: 424,
      TConnectorAssetIdentifier: 32,
      TConnectorAssetIdentifierOut: 40,
      TConnectorOrderIdentifier: 24,
      TConnectorTrade: 64,
      TConnectorSendOrder: 120,
      TConnectorChangeOrder: 104,
      TConnectorCancelOrder: 80,
      TConnectorCancelAllOrders: 48,
      TConnectorOrderOut: 640,
      TConnectorOrder: 232,
      TConnectorTradingAccountPosition: 216,
    });
  });

  it('log in, take 2,000 trades in order from the DLL thread, backfill an outage from history, and finalize with callbacks in flight', async () => {
    const states: string[] = [];
    const live: { ticker: string; number: number; price: number; quantity: number; rc: number }[] = [];
    const history: { number: number; last: boolean }[] = [];
    const progress: number[] = [];
    let kept: unknown;
    const decode = (asset: unknown, trade: unknown) => {
      const out = { Version: 0 } as { Version: number; TradeNumber: number; Price: number; Quantity: number };
      const rc = dll.TranslateTrade(trade, out);
      const id = koffi.decode(asset, RECORDS.TConnectorAssetIdentifier) as { Ticker: string };
      return {
        ticker: id.Ticker,
        number: out.TradeNumber,
        price: out.Price,
        quantity: Number(out.Quantity),
        rc,
      };
    };
    const onState = register(
      (type: number, result: number) => states.push(`${type},${result}`),
      CALLBACKS.state,
    );
    const onProgress = register((_a: unknown, p: number) => progress.push(p), CALLBACKS.progress);
    const onTrade = register((asset: unknown, trade: unknown) => {
      kept = trade;
      live.push(decode(asset, trade));
    }, CALLBACKS.trade);
    const onHistory = register((asset: unknown, trade: unknown, flags: number) => {
      history.push({ number: decode(asset, trade).number, last: (flags & TC_LAST_PACKET) !== 0 });
    }, CALLBACKS.trade);

    const attempts = Number(control.loginAttempts());
    expect(
      dll.DLLInitializeMarketLogin(
        'key',
        'user',
        'password',
        onState,
        null,
        null,
        null,
        null,
        null,
        onProgress,
        null,
      ),
    ).toBe(0);
    expect(dll.SetTradeCallbackV2(onTrade)).toBe(0);
    expect(dll.SetHistoryTradeCallbackV2(onHistory)).toBe(0);
    // Ready when market data is connected and the activation valid, in either order.
    await waitFor(
      'market connected and activation valid',
      () => states.includes('2,4') && states.includes('3,0'),
    );
    expect(states).toEqual(['0,0', '2,1', '2,4', '3,0']);
    expect(Number(control.loginAttempts())).toBe(attempts + 1);

    expect(dll.SubscribeTicker('PETR4', 'B')).toBe(0);
    expect(dll.SubscribeTicker('PETR4', 'not an exchange')).toBe(NL_INVALID_ARGS);
    const start = Date.now();
    for (let i = 0; i < 2_000; i++)
      control.emitTrade('PETR4', start + i, 30 + (i % 50) / 100, 100 + i, 3, 4, 2);
    await waitFor('2,000 live trades', () => live.length >= 2_000, 20_000);
    expect(live.map((t) => t.number)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    expect(live.every((t) => t.rc === 0 && t.ticker === 'PETR4')).toBe(true);
    expect(live[1_999]).toMatchObject({ price: 30 + 49 / 100, quantity: 2_099 });
    // A pointer kept past its callback is refused, and the fake counts the attempt.
    expect(dll.TranslateTrade(kept, { Version: 0 })).toBe(NL_INVALID_ARGS);
    expect(Number(control.badTranslations())).toBe(1);

    // An outage: trades made meanwhile reach only the history, with the last one flagged.
    control.disconnect();
    for (let i = 0; i < 5; i++) control.emitTrade('PETR4', start + 2_000 + i, 31, 1, 3, 4, 2);
    control.reconnect();
    await waitFor('reconnected', () => states.at(-1) === '2,4');
    expect(dll.SubscribeTicker('PETR4', 'B')).toBe(0);
    expect(live).toHaveLength(2_000);
    expect(dll.GetHistoryTrades('PETR4', 'B', dllDate(start + 2_000), dllDate(start + 2_004))).toBe(0);
    await waitFor('the history', () => history.some((t) => t.last));
    expect(history).toEqual(
      [2_001, 2_002, 2_003, 2_004, 2_005].map((number, i) => ({ number, last: i === 4 })),
    );
    expect(progress.at(-1)).toBe(100);

    // Finalize while thousands of callbacks are still queued: it neither hangs nor crashes.
    for (let i = 0; i < 5_000; i++) control.emitTrade('PETR4', start + 3_000 + i, 31, 1, 3, 4, 2);
    expect(await finalize()).toBe(0);
    expect(states.at(-1)).toBe('2,0');
  });

  it('end a refused login in its state, once, without retrying', async () => {
    const states: string[] = [];
    const onState = register(
      (type: number, result: number) => states.push(`${type},${result}`),
      CALLBACKS.state,
    );
    control.failLogin(2); // invalid password
    const attempts = Number(control.loginAttempts());
    expect(
      dll.DLLInitializeMarketLogin('key', 'user', 'wrong', onState, null, null, null, null, null, null, null),
    ).toBe(0);
    await waitFor('the login state', () => states.length > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(states).toEqual(['0,2']);
    expect(Number(control.loginAttempts())).toBe(attempts + 1);
    control.failLogin(0);
    expect(await finalize()).toBe(0);
  });
});
