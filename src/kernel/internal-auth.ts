import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import path from 'node:path';
import { ROLE_HEADER } from './auth/role-header.js';
import type { Config } from './config.js';
import { type AppError, fail } from './errors.js';
import { writeFileDurably } from './fs.js';

/**
 * The internal credential: a random token the supervisor issues at every start, which the gateway,
 * the services calling each other and the CLI present to every internal service. Only the owner
 * of the data home can read it (`run/internal-token`, 0600), so a local process of another user,
 * or a web page, cannot drive trading.
 */
export const INTERNAL_HEADER = 'x-tradingsystem-internal';
/** How the supervisor hands the token to its children (their environment, not their command line). */
export const INTERNAL_TOKEN_ENV = 'TRADINGSYSTEM_INTERNAL_TOKEN';
export const internalTokenFile = (home: string) => path.join(home, 'run', 'internal-token');

/** Headers only a caller holding the credential may set; dropped from any other request. */
const TRUSTED_HEADERS = ['x-actor', ROLE_HEADER];
const LOOPBACK = ['127.0.0.1', 'localhost', '::1'];

/** The credential in force for a data home: the supervisor's (environment), else the token file, else none. */
export function internalToken(home: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env[INTERNAL_TOKEN_ENV]?.trim();
  if (fromEnv) return fromEnv;
  try {
    return readFileSync(internalTokenFile(home), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The header presenting the credential of `home` (none when internal auth is off there). */
export function internalHeaders(home: string): Record<string, string> {
  return internalHeadersOf(internalToken(home));
}

/** The header presenting a token the caller already holds (none when internal auth is off). */
export function internalHeadersOf(token: string | undefined): Record<string, string> {
  return token ? { [INTERNAL_HEADER]: token } : {};
}

/** A fresh token (32 random bytes) written to the home's token file, readable by its owner only. */
export function issueInternalToken(home: string): string {
  const token = randomBytes(32).toString('base64url');
  const file = internalTokenFile(home);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileDurably(file, `${token}\n`, 0o600);
  return token;
}

/** Best effort: a read-only disk must not stop a supervisor from stopping. */
export function removeInternalToken(home: string): void {
  try {
    rmSync(internalTokenFile(home), { force: true });
  } catch {
    // the next start writes a new one anyway
  }
}

/**
 * The data home is its owner's alone (0700); an older home made 0755 is tightened at start. Best
 * effort: on a read-only or foreign-owned home the services still start (and degrade on writes).
 */
export function secureHome(home: string): void {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    chmodSync(home, 0o700);
  } catch {
    // nothing to tighten that we may change
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** What a request looks like to the guard: a Fastify request and a raw upgrade request alike. */
export interface GuardedRequest {
  method?: string;
  headers: IncomingHttpHeaders;
  /** The connection it came on; a request injected in process (tests) has no real socket. */
  socket?: unknown;
}

/**
 * Who may call a service, decided once per request (HTTP and WebSocket upgrades alike):
 * - Host must name this machine (loopback, or the configured host; the gateway: also
 *   `services.gateway.allowedHosts`): a DNS-rebinding page sends its own name (421 HOST_NOT_ALLOWED).
 * - An internal service refuses any browser `Origin` (browsers never call it), except on a client
 *   endpoint (the stream's WebSocket) for the gateway's pages; the gateway accepts its own origin
 *   and `services.gateway.allowedOrigins` (403 ORIGIN_NOT_ALLOWED).
 * - An internal service requires the credential except on `GET /health`, `GET /metrics` and client
 *   endpoints (401 INTERNAL_CREDENTIAL_REQUIRED). The gateway's routes have their own auth.
 */
export class RequestGuard {
  private readonly expected: Buffer | undefined;
  private readonly hosts: Set<string>;
  private readonly clientPaths = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly opts: {
      /** undefined: internal auth off (a service built in process without a credential). */
      token: string | undefined;
      /** The gateway: its routes carry their own auth; it answers to its configured hosts and origins. */
      frontDoor: boolean;
      /** This service's configured host, if it has one. */
      host?: string;
    },
  ) {
    this.expected = opts.token === undefined ? undefined : digest(opts.token);
    this.hosts = new Set([...LOOPBACK, ...(opts.host ? [opts.host.toLowerCase()] : [])]);
  }

  get authOff(): boolean {
    return this.expected === undefined;
  }

  /** A path outside clients reach with their own credential (the stream's WebSocket). */
  addClientPath(p: string): void {
    this.clientPaths.add(p);
  }

  /**
   * The refusal for a request, or undefined when it may go on. Headers only a credential holder
   * may set are removed from a request without it.
   */
  check(req: GuardedRequest, pathname: string): AppError | undefined {
    const host = first(req.headers.host);
    if (!this.hostAllowed(host, req.socket instanceof Socket ? req.socket.localPort : undefined)) {
      return fail.HOST_NOT_ALLOWED({
        header: 'host',
        host: (host ?? '').slice(0, 255),
      });
    }
    const client = this.opts.frontDoor || this.clientPaths.has(pathname);
    const origin = first(req.headers.origin);
    if (origin !== undefined && !(client && this.originAllowed(origin, host ?? ''))) {
      return fail.ORIGIN_NOT_ALLOWED({
        header: 'origin',
        origin: origin.slice(0, 255),
      });
    }
    const trusted = this.expected === undefined || this.carriesCredential(req.headers);
    if (!trusted) for (const name of TRUSTED_HEADERS) delete req.headers[name];
    if (trusted || client || (req.method === 'GET' && (pathname === '/health' || pathname === '/metrics')))
      return undefined;
    return fail.INTERNAL_CREDENTIAL_REQUIRED({ header: INTERNAL_HEADER });
  }

  private carriesCredential(headers: IncomingHttpHeaders): boolean {
    const given = first(headers[INTERNAL_HEADER]);
    return (
      given !== undefined && this.expected !== undefined && timingSafeEqual(digest(given), this.expected)
    );
  }

  /** A loopback or configured name, with the port the connection came to (when it names one). */
  private hostAllowed(host: string | undefined, localPort: number | undefined): boolean {
    if (host === undefined) return false;
    const { name, port } = splitHost(host);
    if (this.opts.frontDoor && this.config.services.gateway.allowedHosts.some((h) => sameHost(h, name, port)))
      return true;
    return this.hosts.has(name) && (port === undefined || localPort === undefined || port === localPort);
  }

  private originAllowed(origin: string, host: string): boolean {
    const gw = this.config.services.gateway;
    if (gw.allowedOrigins.includes(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // `Origin: null` (sandboxed or opaque) is another origin
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    const defaultPort = url.protocol === 'https:' ? 443 : 80;
    const port = url.port ? Number(url.port) : defaultPort;
    const name = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (this.opts.frontDoor) {
      // The gateway's own pages: the origin names the host the request was sent to (a Host
      // without a port: the scheme's default).
      const to = splitHost(host);
      return name === to.name && port === (to.port ?? defaultPort);
    }
    // A client endpoint: pages the gateway served.
    return (
      gw.allowedHosts.some((h) => sameHost(h, name, port)) ||
      ([...LOOPBACK, gw.host.toLowerCase()].includes(name) && port === gw.port)
    );
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** `name[:port]`, `[v6]:port` → lower-case name and port. */
function splitHost(host: string): { name: string; port: number | undefined } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(host.trim().toLowerCase());
  if (!m) return { name: '', port: undefined };
  return { name: m[1] ?? m[2] ?? '', port: m[3] === undefined ? undefined : Number(m[3]) };
}

/** An `allowedHosts` entry: a name (any port) or `name:port`. */
function sameHost(entry: string, name: string, port: number | undefined): boolean {
  const e = splitHost(entry);
  return e.name === name && (e.port === undefined || e.port === port);
}
