/**
 * Internal: what the HTTP listeners of a {@linkcode Tunnel} share (`http2`, `http3`, and both on
 * one port): the hooks the tunnel gives them, their counters in common terms, the base of each
 * proxy's listener (close once, with a force signal), and the listener's certificate files.
 * @module
 */
import { FilePoller, type KeyPair, loadKeyPair } from "../protocols/_tls_files.ts";
import type { TlsReloadEvent } from "../protocols/_tls_listener.ts";
import type { NetError } from "../protocols/errors.ts";
import type { NetAddr } from "../protocols/types.ts";
import type { ResolvedTunnelConfig } from "./config.ts";

/** What the tunnel hears from its proxies. */
export interface HttpFrontendHooks {
  /** A request, CONNECT tunnel or upgrade arrived. */
  onRequest(remoteAddr: NetAddr): void;
  /** An exchange failed on the upstream side (the client got 502/504 or a reset). */
  onError(error: NetError): void;
  /** A certificate reload from files succeeded or failed. */
  onReload?(event: TlsReloadEvent): void;
}

/** A proxy's counters in a tunnel's terms. */
export interface HttpCounters {
  /** Requests (with CONNECT tunnels and upgrades) since start. */
  readonly requests: number;
  /** Requests in progress. */
  readonly active: number;
  /** Requests refused (over a limit, or after GOAWAY). */
  readonly rejected: number;
  /** Request body bytes from clients. */
  readonly bytesIn: number;
  /** Response body bytes to clients. */
  readonly bytesOut: number;
  /** Exchanges that failed on the upstream side. */
  readonly errors: number;
}

/** A running HTTP listener of a tunnel. */
export interface HttpFrontend {
  /** The bound address (the TCP one when h2 and h3 share the port). */
  readonly addr: NetAddr;
  /** The counters, summed over every protocol served. */
  counters(): HttpCounters;
  /** The counters of each protocol served (`http2`, `http3`). */
  perProtocol(): Record<string, HttpCounters>;
  /**
   * Stops accepting, lets requests in flight finish for up to `timeoutMs` (or until `signal`
   * aborts or `abort()` runs), then closes the rest. Idempotent.
   */
  close(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
  /** Closes everything at once (a pending or later `close()` ends now). */
  abort(): void;
}

/** The zero counters. */
export const NO_COUNTERS: HttpCounters = { requests: 0, active: 0, rejected: 0, bytesIn: 0, bytesOut: 0, errors: 0 };

/** Adds counters up. */
export function sumCounters(list: readonly HttpCounters[]): HttpCounters {
  const total = { ...NO_COUNTERS };
  for (const c of list) {
    for (const key of Object.keys(total) as (keyof HttpCounters)[]) total[key] += c[key];
  }
  return total;
}

/**
 * One proxy as a tunnel's HTTP listener: its counters under its protocol's name, and a graceful
 * close that runs once and that `abort()` turns into an immediate one.
 */
export abstract class ProxyFrontend implements HttpFrontend {
  readonly #protocol: string;
  readonly #bound: { readonly addr: NetAddr };
  readonly #stop: (timeoutMs: number, signal: AbortSignal) => Promise<void>;
  readonly #force = new AbortController();
  #closed: Promise<void> | undefined;

  /**
   * @param protocol The name its counters go under (`http2`, `http3`).
   * @param bound The listening proxy, whose address this is.
   * @param stop Stops the proxy, draining until `timeoutMs` passes or `signal` aborts.
   */
  protected constructor(
    protocol: string,
    bound: { readonly addr: NetAddr },
    stop: (timeoutMs: number, signal: AbortSignal) => Promise<void>,
  ) {
    this.#protocol = protocol;
    this.#bound = bound;
    this.#stop = stop;
  }

  /** The bound address (UDP for http3). */
  get addr(): NetAddr {
    return this.#bound.addr;
  }

  /** The proxy's counters in a tunnel's terms. */
  abstract counters(): HttpCounters;

  /** The counters under the protocol's name. */
  perProtocol(): Record<string, HttpCounters> {
    return { [this.#protocol]: this.counters() };
  }

  /** Drains, then closes (see {@linkcode HttpFrontend.close}). */
  close(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    if (!this.#closed) {
      const signal = options.signal ? AbortSignal.any([options.signal, this.#force.signal]) : this.#force.signal;
      this.#closed = this.#stop(options.timeoutMs, signal);
    }
    return this.#closed;
  }

  /** Closes everything at once. */
  abort(): void {
    this.#force.abort();
    void this.close({ timeoutMs: 0 });
  }
}

/** The listener's certificate files, read once, with the snapshot a reload poller starts from. */
export interface ListenerKeyPair {
  /** The files. */
  readonly files: { readonly certFile: string; readonly keyFile: string };
  /** Their content. */
  readonly pair: KeyPair;
  /** What {@linkcode FilePoller} saw when they were read. */
  readonly seen: string;
}

/**
 * Reads `tls.certFile` and `tls.keyFile` of a listener that takes its certificate from files
 * (not h2c, not automatic TLS).
 *
 * @returns The pair, or `undefined` when the listener has no certificate files.
 * @throws {Error} If a file is unreadable or invalid.
 */
export async function loadListenerKeyPair(config: ResolvedTunnelConfig): Promise<ListenerKeyPair | undefined> {
  const tls = config.tls;
  if (config.h2c || config.autoTls || !tls?.certFile || !tls.keyFile) return undefined;
  const files = { certFile: tls.certFile, keyFile: tls.keyFile };
  const seen = await FilePoller.snapshot([files.certFile, files.keyFile]);
  return { files, pair: await loadKeyPair(files), seen };
}
