import koffi from 'koffi';

/**
 * Nelogica's ProfitDLL through koffi: its records, callbacks and functions as the DLL declares them
 * (x64: stdcall is the one convention there; strings are UTF-16; a record a callback receives "by
 * value" arrives as a pointer, since x64 passes any argument that is not 1, 2, 4 or 8 bytes by
 * reference). The same declarations load the real `ProfitDLL64.dll` on Windows and the fake of
 * test/fixtures/profitdll-fake on Linux. Only the declarations: what to call when is the adapter's.
 */

// koffi names types globally, once per process: declaring them twice throws, so this module does it once.
const TSystemTime = koffi.struct('TSystemTime', {
  wYear: 'uint16',
  wMonth: 'uint16',
  wDayOfWeek: 'uint16',
  wDay: 'uint16',
  wHour: 'uint16',
  wMinute: 'uint16',
  wSecond: 'uint16',
  wMilliseconds: 'uint16',
});
/** Delphi `packed record`: 20 bytes. */
const TAssetIDRec = koffi.pack('TAssetIDRec', { ticker: 'str16', bolsa: 'str16', feed: 'int32' });
const TConnectorAccountIdentifier = koffi.struct('TConnectorAccountIdentifier', {
  Version: 'uint8',
  BrokerID: 'int32',
  AccountID: 'str16',
  SubAccountID: 'str16',
  Reserved: 'int64',
});
const TConnectorAccountIdentifierOut = koffi.struct('TConnectorAccountIdentifierOut', {
  Version: 'uint8',
  BrokerID: 'int32',
  AccountID: koffi.array('char16_t', 100),
  AccountIDLength: 'int32',
  SubAccountID: koffi.array('char16_t', 100),
  SubAccountIDLength: 'int32',
  Reserved: 'int64',
});
const TConnectorAssetIdentifier = koffi.struct('TConnectorAssetIdentifier', {
  Version: 'uint8',
  Ticker: 'str16',
  Exchange: 'str16',
  FeedType: 'uint8',
});
/** The strings are buffers the caller allocates after a first call told their lengths. */
const TConnectorAssetIdentifierOut = koffi.struct('TConnectorAssetIdentifierOut', {
  Version: 'uint8',
  Ticker: 'void *',
  TickerLength: 'int32',
  Exchange: 'void *',
  ExchangeLength: 'int32',
  FeedType: 'uint8',
});
const TConnectorOrderIdentifier = koffi.struct('TConnectorOrderIdentifier', {
  Version: 'uint8',
  LocalOrderID: 'int64',
  ClOrderID: 'str16',
});
const TConnectorTrade = koffi.struct('TConnectorTrade', {
  Version: 'uint8',
  TradeDate: TSystemTime,
  TradeNumber: 'uint32',
  Price: 'double',
  Quantity: 'int64',
  Volume: 'double',
  BuyAgent: 'int32',
  SellAgent: 'int32',
  TradeType: 'uint8',
});
const TConnectorSendOrder = koffi.struct('TConnectorSendOrder', {
  Version: 'uint8',
  AccountID: TConnectorAccountIdentifier,
  AssetID: TConnectorAssetIdentifier,
  Password: 'str16',
  OrderType: 'uint8',
  OrderSide: 'uint8',
  Price: 'double',
  StopPrice: 'double',
  Quantity: 'int64',
  MessageID: 'int64',
});
const TConnectorChangeOrder = koffi.struct('TConnectorChangeOrder', {
  Version: 'uint8',
  AccountID: TConnectorAccountIdentifier,
  OrderID: TConnectorOrderIdentifier,
  Password: 'str16',
  Price: 'double',
  StopPrice: 'double',
  Quantity: 'int64',
  MessageID: 'int64',
});
const TConnectorCancelOrder = koffi.struct('TConnectorCancelOrder', {
  Version: 'uint8',
  AccountID: TConnectorAccountIdentifier,
  OrderID: TConnectorOrderIdentifier,
  Password: 'str16',
  MessageID: 'int64',
});
const TConnectorCancelAllOrders = koffi.struct('TConnectorCancelAllOrders', {
  Version: 'uint8',
  AccountID: TConnectorAccountIdentifier,
  Password: 'str16',
});
const ORDER_TAIL = {
  Quantity: 'int64',
  TradedQuantity: 'int64',
  LeavesQuantity: 'int64',
  Price: 'double',
  StopPrice: 'double',
  AveragePrice: 'double',
  OrderSide: 'uint8',
  OrderType: 'uint8',
  OrderStatus: 'uint8',
  ValidityType: 'uint8',
  Date: TSystemTime,
  LastUpdate: TSystemTime,
  CloseDate: TSystemTime,
  ValidityDate: TSystemTime,
} as const;
const TConnectorOrderOut = koffi.struct('TConnectorOrderOut', {
  Version: 'uint8',
  OrderID: TConnectorOrderIdentifier,
  AccountID: TConnectorAccountIdentifierOut,
  AssetID: TConnectorAssetIdentifierOut,
  ...ORDER_TAIL,
  TextMessage: 'void *',
  TextMessageLength: 'int32',
  EventID: 'int64',
});
/** What EnumerateAllOrders hands its procedure, valid during that call only. */
const TConnectorOrder = koffi.struct('TConnectorOrder', {
  Version: 'uint8',
  OrderID: TConnectorOrderIdentifier,
  AccountID: TConnectorAccountIdentifier,
  AssetID: TConnectorAssetIdentifier,
  ...ORDER_TAIL,
  TextMessage: 'str16',
  EventID: 'int64',
});
const TConnectorTradingAccountPosition = koffi.struct('TConnectorTradingAccountPosition', {
  Version: 'uint8',
  AccountID: TConnectorAccountIdentifier,
  AssetID: TConnectorAssetIdentifier,
  OpenQuantity: 'int64',
  OpenAveragePrice: 'double',
  OpenSide: 'uint8',
  DailyAverageSellPrice: 'double',
  DailySellQuantity: 'int64',
  DailyAverageBuyPrice: 'double',
  DailyBuyQuantity: 'int64',
  DailyQuantityD1: 'int64',
  DailyQuantityD2: 'int64',
  DailyQuantityD3: 'int64',
  DailyQuantityBlocked: 'int64',
  DailyQuantityPending: 'int64',
  DailyQuantityAlloc: 'int64',
  DailyQuantityProvision: 'int64',
  DailyQuantity: 'int64',
  DailyQuantityAvailable: 'int64',
  PositionType: 'uint8',
  EventID: 'int64',
});

/** The records, for decoding what a callback points at and for sizes. */
export const RECORDS = {
  TSystemTime,
  TAssetIDRec,
  TConnectorAccountIdentifier,
  TConnectorAccountIdentifierOut,
  TConnectorAssetIdentifier,
  TConnectorAssetIdentifierOut,
  TConnectorOrderIdentifier,
  TConnectorTrade,
  TConnectorSendOrder,
  TConnectorChangeOrder,
  TConnectorCancelOrder,
  TConnectorCancelAllOrders,
  TConnectorOrderOut,
  TConnectorOrder,
  TConnectorTradingAccountPosition,
};

/** The callbacks the DLL calls, from its own thread (koffi relays each to Node's main thread). */
export const CALLBACKS = {
  state: koffi.proto('void __stdcall TStateCallback(int32 type, int32 result)'),
  progress: koffi.proto('void __stdcall TProgressCallback(TAssetIDRec *asset, int32 progress)'),
  tinyBook: koffi.proto(
    'void __stdcall TTinyBookCallback(TAssetIDRec *asset, double price, int32 quantity, int32 side)',
  ),
  account: koffi.proto(
    'void __stdcall TAccountCallback(int32 broker, str16 brokerName, str16 account, str16 holder)',
  ),
  trade: koffi.proto(
    'void __stdcall TConnectorTradeCallback(TConnectorAssetIdentifier *asset, void *trade, uint32 flags)',
  ),
  order: koffi.proto('void __stdcall TConnectorOrderCallback(TConnectorOrderIdentifier *order)'),
  enumerateOrders: koffi.proto(
    'int32 __stdcall TConnectorEnumerateOrdersProc(TConnectorOrder *order, intptr_t param)',
  ),
};

/** The DLL's functions, by their exported names. Order functions return an id (> 0) or an NL code (< 0). */
export function loadProfitDll(file: string) {
  const lib = koffi.load(file);
  const fn = (signature: string) => lib.func(signature);
  return {
    DLLInitializeLogin: fn(
      'int32 __stdcall DLLInitializeLogin(str16 key, str16 user, str16 password, TStateCallback *state, void *history, void *orderChange, TAccountCallback *account, void *trade, void *daily, void *priceBook, void *offerBook, void *historyTrade, TProgressCallback *progress, TTinyBookCallback *tinyBook)',
    ),
    DLLInitializeMarketLogin: fn(
      'int32 __stdcall DLLInitializeMarketLogin(str16 key, str16 user, str16 password, TStateCallback *state, void *trade, void *daily, void *priceBook, void *offerBook, void *historyTrade, TProgressCallback *progress, TTinyBookCallback *tinyBook)',
    ),
    /** Call it with `.async`: it waits for the DLL's thread, which may be waiting for Node's. */
    DLLFinalize: fn('int32 __stdcall DLLFinalize()'),
    SubscribeTicker: fn('int32 __stdcall SubscribeTicker(str16 ticker, str16 exchange)'),
    UnsubscribeTicker: fn('int32 __stdcall UnsubscribeTicker(str16 ticker, str16 exchange)'),
    SetTradeCallbackV2: fn('int32 __stdcall SetTradeCallbackV2(TConnectorTradeCallback *callback)'),
    SetHistoryTradeCallbackV2: fn(
      'int32 __stdcall SetHistoryTradeCallbackV2(TConnectorTradeCallback *callback)',
    ),
    SetTinyBookCallback: fn('int32 __stdcall SetTinyBookCallback(TTinyBookCallback *callback)'),
    TranslateTrade: fn('int32 __stdcall TranslateTrade(void *trade, _Inout_ TConnectorTrade *out)'),
    GetHistoryTrades: fn(
      'int32 __stdcall GetHistoryTrades(str16 ticker, str16 exchange, str16 start, str16 end)',
    ),
    GetServerClock: fn(
      'int32 __stdcall GetServerClock(_Out_ double *date, _Out_ int32 *year, _Out_ int32 *month, _Out_ int32 *day, _Out_ int32 *hour, _Out_ int32 *minute, _Out_ int32 *second, _Out_ int32 *ms)',
    ),
    GetHealthStatus: fn('int32 __stdcall GetHealthStatus(_Out_ int32 *state)'),
    SetOrderCallback: fn('int32 __stdcall SetOrderCallback(TConnectorOrderCallback *callback)'),
    SendOrder: fn('int64 __stdcall SendOrder(_Inout_ TConnectorSendOrder *order)'),
    SendChangeOrderV2: fn('int32 __stdcall SendChangeOrderV2(_Inout_ TConnectorChangeOrder *change)'),
    SendCancelOrderV2: fn('int32 __stdcall SendCancelOrderV2(_Inout_ TConnectorCancelOrder *cancel)'),
    SendCancelAllOrdersV2: fn('int32 __stdcall SendCancelAllOrdersV2(TConnectorCancelAllOrders *cancel)'),
    GetOrderDetails: fn('int32 __stdcall GetOrderDetails(_Inout_ TConnectorOrderOut *order)'),
    EnumerateAllOrders: fn(
      'int32 __stdcall EnumerateAllOrders(TConnectorAccountIdentifier *account, uint8 version, intptr_t param, TConnectorEnumerateOrdersProc *callback)',
    ),
    GetPositionV2: fn('int32 __stdcall GetPositionV2(_Inout_ TConnectorTradingAccountPosition *position)'),
    GetAccountCount: fn('int32 __stdcall GetAccountCount()'),
  };
}

export type ProfitDll = ReturnType<typeof loadProfitDll>;
