/**
 * Internal: `Runtime.serveHttp3` on Bun, over `Bun.serve({ http3: true, http1: false })`, which
 * the Bun adapter hands in typed by shape (so this file never names the runtime global).
 *
 * Bun 1.4.5 facts this relies on (measured): `http3: true` with `http1: false` binds UDP only (on
 * `::`, it takes IPv4 and IPv6 clients);
 * request bodies stream (`request.body`), response bodies stream from a `ReadableStream`;
 * `server.requestIP(request)` gives the client's UDP address; the server adds no `Alt-Svc` to h3
 * responses. Bun's `Request`/`Response` carry no trailers, so HTTP/3 trailers do not pass here.
 * @module
 */
import { ANY_HOST, ANY_HOST_V4, formatAddr, netAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError, type NetErrorCode } from "./errors.ts";
import type { Http3ServeOptions, Http3ServerHandle } from "./runtime.ts";

/** What `Bun.serve` returns, by shape. */
export interface BunHttpServerLike {
  readonly port: number;
  readonly hostname?: string;
  requestIP(request: Request): { address: string; port: number } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

/** `Bun.serve`, by shape. */
export type BunServe = (options: {
  hostname: string;
  port: number;
  tls: { cert: string; key: string };
  http3: true;
  http1: false;
  idleTimeout?: number;
  fetch(request: Request, server: BunHttpServerLike): Promise<Response>;
  error?(error: unknown): Response;
}) => BunHttpServerLike;

const BIND_CODES: ReadonlySet<string> = new Set(["EADDRINUSE", "EADDRNOTAVAIL", "EACCES"]);

/**
 * Starts Bun's HTTP/3 server.
 *
 * @param serve `Bun.serve`.
 * @param options Where to listen, the certificate and the request handler.
 * @returns The running server.
 * @throws {NetError} EADDRINUSE and the like.
 */
export function serveBunHttp3(serve: BunServe, options: Http3ServeOptions): Promise<Http3ServerHandle> {
  const start = (hostname: string) =>
    serve({
      hostname,
      port: options.port,
      tls: { cert: options.cert, key: options.key },
      http3: true,
      http1: false,
      ...(options.idleTimeoutMs ? { idleTimeout: Math.max(1, Math.ceil(options.idleTimeoutMs / 1000)) } : {}),
      fetch(request, srv) {
        const ip = srv.requestIP(request);
        return options.fetch(request, { remoteAddr: ip ? netAddr(ip.address, ip.port, "udp") : undefined });
      },
      error: () => new Response("500 Internal Server Error\n", { status: 500 }),
    });
  let hostname = options.hostname || ANY_HOST;
  let server: BunHttpServerLike;
  try {
    try {
      server = start(hostname);
    } catch (error) {
      if (options.hostname) throw error;
      hostname = ANY_HOST_V4; // no IPv6 on this machine: every IPv4 interface
      server = start(hostname);
    }
  } catch (error) {
    const localAddr = netAddr(hostname, options.port, "udp");
    const raw = (error as { code?: string } | null)?.code;
    const code: NetErrorCode = raw && BIND_CODES.has(raw) ? raw as NetErrorCode : "EUNKNOWN";
    const detail = code === "EUNKNOWN" && error instanceof Error ? error.message : NET_ERROR_TEXT[code];
    return Promise.reject(
      new NetError(code, `Cannot listen on "${formatAddr(localAddr)}" over http3: ${detail}`, {
        op: "listen",
        protocol: "http3",
        localAddr,
        cause: error,
      }),
    );
  }
  const addr = netAddr(hostname, server.port, "udp");
  return Promise.resolve({
    addr,
    async stop(force: boolean): Promise<void> {
      await server.stop(force);
    },
  });
}
