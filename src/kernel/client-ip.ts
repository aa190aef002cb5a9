import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is 10.0.0.1. */
const plain = (address: string) => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');

/** A set of IP addresses and CIDRs (`10.0.0.0/8`, `::1`); a bad entry throws, naming it. */
export class AddressList {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address = '', bits, extra] = entry.split('/');
      const family = isIP(address);
      const max = family === 6 ? 128 : 32;
      const prefix = bits === undefined ? max : Number(bits);
      if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
        throw new Error(`'${entry}' is not an IP address or CIDR`);
      }
      this.list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
    }
    this.empty = entries.length === 0;
  }

  /** As a function, this is what Fastify's `trustProxy` takes. */
  readonly has = (address: string): boolean => {
    const a = plain(address);
    const family = isIP(a);
    return family !== 0 && this.list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  };
}

export const LOOPBACK = new AddressList(['127.0.0.0/8', '::1']);

/**
 * The client of a raw request (what Fastify's `req.ip` is with `trustProxy`): the TCP peer, or,
 * while the hop in hand is a trusted proxy, the address it forwarded for, read from the right of
 * X-Forwarded-For. With no trusted proxy the header is ignored.
 */
export function clientIp(req: IncomingMessage, trustedProxies: AddressList): string {
  let ip = plain(req.socket.remoteAddress ?? 'unknown');
  if (trustedProxies.empty) return ip;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
  for (let i = hops.length - 1; i >= 0 && trustedProxies.has(ip); i--) {
    const next = plain((hops[i] ?? '').trim());
    if (!isIP(next)) break;
    ip = next;
  }
  return ip;
}
