/**
 * Options of {@linkcode Http2Proxy} and their defaults (applied and checked in one place, `_resolve.ts`).
 * @module
 */
import type { NetError } from "../errors.ts";
import type { TlsCertificateSource } from "../tls.ts";
import type { NetAddr } from "../types.ts";

/** Default time to wait for the upstream's response headers after the request body was sent: 60 s. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000;
/** Default time to open a TCP connection to the upstream or a CONNECT target: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Default time {@linkcode Http2Proxy.close} lets in-flight streams finish before destroying them: 10 s. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
/** Default HTTP/2 per-stream flow-control window we advertise (to clients and to an h2c upstream): 1 MiB. */
export const DEFAULT_STREAM_WINDOW_BYTES = 1024 * 1024;
/** Default cap on concurrent HTTP/1.1 connections to the upstream (keep-alive pool). */
export const DEFAULT_MAX_UPSTREAM_SOCKETS = 256;
/** Default `ma` (max age, seconds) of the `Alt-Svc` header built from an h3 port. */
export const DEFAULT_ALT_SVC_MAX_AGE_SECONDS = 86_400;
/** Default lowest TLS version accepted from clients. */
export const DEFAULT_HTTP2_MIN_VERSION: Http2MinVersion = "1.2";

/** Lowest TLS version accepted from clients. */
export type Http2MinVersion = "1.2" | "1.3";

/** How the proxy talks to its target. */
export type Http2Upstream = "http1" | "h2c";

/** Options for {@linkcode Http2Proxy}. */
export interface Http2ProxyOptions {
  /** The upstream `host:port` every request goes to, e.g. `"127.0.0.1:8080"` or `"[::1]:3000"`. */
  target: string;
  /** How to talk to the target: HTTP/1.1 (keep-alive pool) or h2c (HTTP/2 prior knowledge). @default {"http1"} */
  upstream?: Http2Upstream;
  /** Host or IP to bind; empty binds every interface (IPv6 and IPv4, IPv4 only without IPv6). @default {"::"} */
  hostname?: string;
  /** Port to bind; 0 picks a free one. @default {0} */
  port?: number;
  /** Server certificate chain, PEM. Required unless `h2c` is true. */
  cert?: string | Uint8Array;
  /** Private key of `cert`, PEM. Required unless `h2c` is true. */
  key?: string | Uint8Array;
  /**
   * Certificates chosen per client by SNI name instead of `cert`/`key`, for example an ACME
   * manager's `tlsConfig()`: `certificateFor(serverName)` first, then `defaultCertificate()` (also
   * for clients that send no SNI). They are looked up on every handshake, so a renewed certificate
   * is used at once; a client for which neither returns one gets a fatal TLS alert.
   * @default {undefined}
   */
  certificates?: Pick<TlsCertificateSource, "certificateFor" | "defaultCertificate">;
  /** Serve cleartext HTTP/2 with prior knowledge (h2c) instead of TLS; HTTP/1.1 clients are not served then. @default {false} */
  h2c?: boolean;
  /** Lowest TLS version accepted. @default {"1.2"} */
  minVersion?: Http2MinVersion;
  /** Also serve HTTP/1.1 over TLS (ALPN `http/1.1`, and clients without ALPN). @default {true} */
  allowHTTP1?: boolean;
  /** `host:port` patterns CONNECT tunnels may reach (see {@linkcode ConnectAllowList}); empty refuses all with 403. @default {[]} */
  connectAllow?: readonly string[];
  /**
   * `Alt-Svc` advertised on every proxied response: an h3 port (gives `h3=":PORT"; ma=86400`) or the
   * whole header value. @default {undefined (none)}
   */
  altSvc?: number | string;
  /** Time to wait for response headers after the request was fully sent; then 504. 0 waits forever. @default {60_000} */
  upstreamTimeoutMs?: number;
  /** Time to open a TCP connection (or h2c session) to the target or a CONNECT target; then 504. @default {10_000} */
  connectTimeoutMs?: number;
  /** How long {@linkcode Http2Proxy.close} lets in-flight streams finish before destroying them. @default {10_000} */
  closeTimeoutMs?: number;
  /** HTTP/2 per-stream flow-control window, in bytes (bounds what one stream buffers). @default {1_048_576} */
  streamWindowBytes?: number;
  /**
   * HTTP/2 connection flow-control window to raise ours to, in bytes (`setLocalWindowSize`). Unset keeps
   * the protocol's 65,535: Bun 1.4.5 stops sending stream WINDOW_UPDATEs once it is raised, which stalls
   * uploads. On Deno, 8 MiB roughly doubles one upload's speed. @default {undefined}
   */
  sessionWindowBytes?: number;
  /** Most concurrent HTTP/1.1 connections to the upstream. @default {256} */
  maxUpstreamSockets?: number;
  /** Called for every request, CONNECT tunnel and upgrade, with the client's address. @default {undefined} */
  onRequest?: (remoteAddr: NetAddr) => void;
  /** Called for every failed upstream exchange or tunnel (the client got 502/504 or a reset). @default {undefined} */
  onError?: (error: NetError) => void;
}
