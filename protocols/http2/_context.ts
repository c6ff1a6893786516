/**
 * Internal: what the request, tunnel and upgrade handlers share with {@linkcode Http2Proxy}.
 * @module
 */
import type { NetError } from "../errors.ts";
import type { ResolvedHttp2ProxyOptions } from "./_resolve.ts";
import type { Upstream } from "./_upstream.ts";

/** Live counters; {@linkcode Http2Proxy.stats} copies them. */
export interface ProxyCounters {
  requests: number;
  activeStreams: number;
  tunnels: number;
  upgrades: number;
  bytesIn: number;
  bytesOut: number;
  upstreamErrors: number;
  rejected: number;
}

/** The client's socket, as far as a request handler sees it (for its address). */
export interface PeerSocket {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
}

/** Something that can be destroyed on a forced close. */
export interface Destroyable {
  destroy(): void;
}

/** The proxy as its handlers see it. */
export interface ProxyContext {
  readonly options: ResolvedHttp2ProxyOptions;
  readonly counters: ProxyCounters;
  readonly upstream: Upstream;
  /** `"https"` over TLS, `"http"` for h2c. */
  readonly scheme: "http" | "https";
  /** True once a graceful close began. */
  readonly closing: boolean;
  /** Counts one request, tunnel or upgrade from `peer` as active until the returned function runs (idempotent). */
  begin(peer?: PeerSocket): () => void;
  /** Keeps `resource` (an upstream socket) to destroy on a forced close, until it closes. */
  track(resource: Destroyable & { once(event: "close", listener: () => void): unknown }): void;
  /** Counts an upstream failure and tells the `onError` observer. */
  fail(error: NetError): void;
}
