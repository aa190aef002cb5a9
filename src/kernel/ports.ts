import net from 'node:net';

/**
 * Ports this process handed out lately. The OS may give a port it just freed to the next caller at
 * once (on Linux, about one set of six in 400 held a repeat), and two services handed the same
 * port clash at start: so a port is handed out again only after this many others.
 */
const REMEMBERED = 4_096;
const handedOut = new Set<number>();

function remember(port: number): number {
  handedOut.add(port);
  // A Set iterates in insertion order: the first is the oldest.
  if (handedOut.size > REMEMBERED) handedOut.delete(handedOut.values().next().value as number);
  return port;
}

/** A port the OS picked, free on 127.0.0.1 when it answered. */
function osPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A port nobody listens on right now on 127.0.0.1, and none this process handed out lately (it
 * may still be taken by another process by the time it is used).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await osPort();
    // Past a few tries the range is small or busy: a repeat is better than no port.
    if (!handedOut.has(port) || attempt >= 50) return remember(port);
  }
}

/** `count` different free ports (each also one not handed out lately). */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return ports;
}
