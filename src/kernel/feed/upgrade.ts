import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type AppError, fail } from '../errors.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void;

// One 'upgrade' listener per HTTP server dispatching by path, so several feeds can share a
// service's port and an upgrade to an unknown path is answered instead of left hanging.
const tables = new WeakMap<Server, Map<string, UpgradeHandler>>();
/** Checked before any route: the service base's guard (Host, Origin, internal credential). */
const guards = new WeakMap<Server, (req: IncomingMessage, pathname: string) => AppError | undefined>();

export function addUpgradeGuard(
  server: Server,
  guard: (req: IncomingMessage, pathname: string) => AppError | undefined,
): void {
  guards.set(server, guard);
}

export function addUpgradeRoute(server: Server, path: string, handler: UpgradeHandler): void {
  let table = tables.get(server);
  if (!table) {
    const routes = new Map<string, UpgradeHandler>();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // A peer resetting mid-handshake must not become an uncaught 'error'.
      socket.on('error', () => socket.destroy());
      const url = new URL(req.url ?? '/', 'http://feed.invalid');
      const refused = guards.get(server)?.(req, url.pathname);
      if (refused) return refuseUpgrade(socket, refused);
      const route = routes.get(url.pathname);
      if (route) route(req, socket, head, url);
      else refuseUpgrade(socket, fail.NOT_FOUND(`no WebSocket endpoint at ${url.pathname}`));
    });
    tables.set(server, routes);
    table = routes;
  }
  if (table.has(path)) throw new Error(`an upgrade handler for ${path} is already attached`);
  table.set(path, handler);
}

export function removeUpgradeRoute(server: Server, path: string): void {
  tables.get(server)?.delete(path);
}

/** Answers an upgrade request with the error's status and envelope, as plain HTTP, and closes it. */
export function refuseUpgrade(
  socket: Duplex,
  error: AppError,
  extraHeaders: Record<string, string | number> = {},
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { status } = error;
  const body = JSON.stringify(error.toEnvelope());
  const headers = Object.entries(extraHeaders)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      headers +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
