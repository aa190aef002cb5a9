import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AddressList, clientIp, LOOPBACK } from './client-ip.js';

const request = (peer: string, xff?: string) =>
  ({ socket: { remoteAddress: peer }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as IncomingMessage;

describe('client addresses behind trusted proxies', () => {
  it('matches IPs and CIDRs, IPv4-mapped peers included, and refuses a bad entry', () => {
    const list = new AddressList(['10.0.0.0/8', '192.168.1.7', '::1']);
    expect(['10.1.2.3', '::ffff:10.9.9.9', '192.168.1.7', '::1'].map(list.has)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['11.0.0.1', '192.168.1.8', 'nonsense'].map(list.has)).toEqual([false, false, false]);
    expect(LOOPBACK.has('127.0.0.9')).toBe(true);
    expect(() => new AddressList(['10.0.0.0/33'])).toThrow(/not an IP address or CIDR/);
    expect(() => new AddressList(['proxy.local'])).toThrow(/proxy.local/);
  });

  it('takes X-Forwarded-For only from a trusted peer, right to left while the hops are trusted', () => {
    const none = new AddressList([]);
    const proxy = new AddressList(['127.0.0.1', '10.0.0.2']);
    expect(clientIp(request('127.0.0.1', '203.0.113.9'), none)).toBe('127.0.0.1');
    expect(clientIp(request('127.0.0.1', '203.0.113.9'), proxy)).toBe('203.0.113.9');
    expect(clientIp(request('198.51.100.1', '203.0.113.9'), proxy)).toBe('198.51.100.1');
    // A client cannot hide behind a forged first entry: the proxy appends the peer it saw.
    expect(clientIp(request('127.0.0.1', '1.1.1.1, 203.0.113.9'), proxy)).toBe('203.0.113.9');
    expect(clientIp(request('127.0.0.1', '203.0.113.9, 10.0.0.2'), proxy)).toBe('203.0.113.9');
    expect(clientIp(request('127.0.0.1', 'garbage'), proxy)).toBe('127.0.0.1');
  });
});
