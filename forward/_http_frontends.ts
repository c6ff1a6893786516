/**
 * Internal: starts the HTTP listener a {@linkcode Tunnel} config asks for: `http2`, `http3`, or
 * `http2` with `http3: true`, which serves HTTP/3 on the same port number over UDP and advertises
 * it on every h1/h2 response with `Alt-Svc: h3=":PORT"; ma=86400` (as Caddy does by default).
 * @module
 */
import { parseListenAddr } from "../protocols/address.ts";
import { NetError } from "../protocols/errors.ts";
import { altSvcValue } from "../protocols/http3/options.ts";
import type { Runtime } from "../protocols/runtime.ts";
import type { TlsCertificateSource } from "../protocols/tls.ts";
import type { NetAddr } from "../protocols/types.ts";
import type { ResolvedTunnelConfig } from "./config.ts";
import { Http2Frontend } from "./_http2_frontend.ts";
import { Http3Frontend } from "./_http3_frontend.ts";
import { type HttpCounters, type HttpFrontend, type HttpFrontendHooks, sumCounters } from "./_http_frontend.ts";

/** With port 0, tries this many UDP ports whose TCP twin is free before giving up. */
const SHARED_PORT_ATTEMPTS = 8;

/** h2 (TCP) and h3 (UDP) on one port number, counted together. */
class SharedPortFrontend implements HttpFrontend {
  readonly #h2: Http2Frontend;
  readonly #h3: Http3Frontend;

  constructor(h2: Http2Frontend, h3: Http3Frontend) {
    this.#h2 = h2;
    this.#h3 = h3;
  }

  get addr(): NetAddr {
    return this.#h2.addr;
  }

  counters(): HttpCounters {
    return sumCounters([this.#h2.counters(), this.#h3.counters()]);
  }

  perProtocol(): Record<string, HttpCounters> {
    return { http2: this.#h2.counters(), http3: this.#h3.counters() };
  }

  async close(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    await Promise.all([this.#h2.close(options), this.#h3.close(options)]);
  }

  abort(): void {
    this.#h2.abort();
    this.#h3.abort();
  }
}

/**
 * Starts the proxies of an `http2` or `http3` tunnel and binds them.
 *
 * @throws {NetError} If an address cannot be bound.
 * @throws {Error} If the certificate files are unreadable or invalid.
 */
export async function startHttpFrontend(
  config: ResolvedTunnelConfig,
  certificates: TlsCertificateSource | undefined,
  hooks: HttpFrontendHooks,
  runtime: Runtime | undefined,
): Promise<HttpFrontend> {
  if (config.protocol === "http3") return await Http3Frontend.start(config, hooks, runtime);
  if (!config.http3) return await Http2Frontend.start(config, certificates, hooks);
  const { port } = parseListenAddr(config.listenAddr);
  // UDP first: with port 0 the kernel picks it, and the TCP listener takes the same number.
  for (let attempt = 1;; attempt++) {
    const h3 = await Http3Frontend.start(config, hooks, runtime, port);
    const shared = h3.addr.port;
    try {
      const h2 = await Http2Frontend.start(config, certificates, hooks, {
        port: shared,
        altSvc: config.altSvc ?? altSvcValue(shared),
      });
      return new SharedPortFrontend(h2, h3);
    } catch (error) {
      await h3.close({ timeoutMs: 0 });
      const retry = port === 0 && error instanceof NetError && error.code === "EADDRINUSE" &&
        attempt < SHARED_PORT_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}
