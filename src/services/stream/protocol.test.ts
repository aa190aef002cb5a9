import { describe, expect, it } from 'vitest';
import { allChannels, lookupChannel } from './channels.js';
import { encodeData, parseClientOp } from './protocol.js';

describe('stream protocol', () => {
  it('parses ops and names what is wrong with a bad one', () => {
    expect(parseClientOp('{"op":"subscribe","channels":["orders","orders"],"id":1}', 10)).toEqual({
      ok: true,
      op: { op: 'subscribe', channels: ['orders'], id: 1 },
    });
    expect(parseClientOp('{"op":"ping"}', 10)).toEqual({ ok: true, op: { op: 'ping' } });
    const code = (text: string) => {
      const r = parseClientOp(text, 2);
      return r.ok ? 'ok' : r.error.code;
    };
    expect(code('{')).toBe('INVALID_JSON');
    expect(code('null')).toBe('INVALID_MESSAGE');
    expect(code('{"op":1}')).toBe('INVALID_MESSAGE');
    expect(code('{"op":"ping","id":{}}')).toBe('INVALID_MESSAGE');
    expect(code('{"op":"fly"}')).toBe('UNKNOWN_OP');
    expect(code('{"op":"subscribe","channels":[]}')).toBe('INVALID_MESSAGE');
    expect(code('{"op":"subscribe","channels":[1]}')).toBe('INVALID_MESSAGE');
    expect(code('{"op":"unsubscribe","channels":["a","b","c"]}')).toBe('TOO_MANY_SUBSCRIPTIONS');
  });

  it('resolves channel names from the fixed catalogue, with the reason for an unknown one', () => {
    const specs = allChannels(['WINZ26']);
    expect(specs.map((c) => c.name)).toEqual([
      'trades:WINZ26',
      'quotes:WINZ26',
      'bars:1m:WINZ26',
      'orders',
      'positions',
      'risk',
      'health',
    ]);
    const known = new Map(specs.map((c) => [c.name, c]));
    const symbols = new Set(['WINZ26']);
    const code = (name: string) => {
      const r = lookupChannel(name, known, symbols, 'viewer');
      return r.ok ? r.channel.kind : r.code;
    };
    expect(code('bars:1m:WINZ26')).toBe('bars');
    expect(code('risk')).toBe('risk');
    expect(code('trades:PETR9')).toBe('UNKNOWN_INSTRUMENT');
    expect(code('bars:1m:PETR9')).toBe('UNKNOWN_INSTRUMENT');
    expect(code('bars:7m:WINZ26')).toBe('UNKNOWN_CHANNEL');
    expect(code('fills')).toBe('UNKNOWN_CHANNEL');
  });

  it('encodes a data message once as JSON', () => {
    expect(JSON.parse(encodeData('orders', 3, { a: 1 }))).toEqual({
      channel: 'orders',
      seq: 3,
      data: { a: 1 },
    });
  });
});
