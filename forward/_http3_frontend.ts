/**
 * Internal: the listener of a {@linkcode Tunnel} with `protocol: "http3"` (or an `http2` listener
 * with `http3: true`): an `Http3Proxy` (loaded only then) on UDP, forwarding to the tunnel's
 * target over HTTP/1.1 or h2c. The certificate is read from `tls.certFile`/`tls.keyFile` once, at
 * start: neither runtime can give a running QUIC listener a new certificate (Deno's endpoint takes
 * its TLS config when it starts listening, `Bun.serve`'s http3 server on creation), and rebinding
 * would drop every connection, so an http3 listener is not reloaded and takes no automatic TLS.
 * @module
 */
import { parseListenAddr } from "../protocols/address.ts";
import type { Http3Proxy } from "../protocols/http3/proxy.ts";
import type { Runtime } from "../protocols/runtime.ts";
import type { ResolvedTunnelConfig } from "./config.ts";
import { type HttpCounters, type HttpFrontendHooks, loadListenerKeyPair, ProxyFrontend } from "./_http_frontend.ts";

/** A running HTTP/3 listener. */
export class Http3Frontend extends ProxyFrontend {
  readonly #proxy: Http3Proxy;

  private constructor(proxy: Http3Proxy) {
    super("http3", proxy, (timeoutMs, signal) => proxy.close({ timeoutMs, signal }));
    this.#proxy = proxy;
  }

  /**
   * Creates the proxy and binds its UDP port.
   *
   * @param port The UDP port. @default {the port of `listenAddr`}
   * @throws {TypeError} If the listener has no certificate files.
   * @throws {Error} If the certificate files are unreadable or invalid.
   * @throws {NetError} If the address cannot be bound.
   */
  static async start(
    config: ResolvedTunnelConfig,
    hooks: HttpFrontendHooks,
    runtime: Runtime | undefined,
    port?: number,
  ): Promise<Http3Frontend> {
    const loaded = await loadListenerKeyPair(config);
    if (!loaded) {
      throw new TypeError(
        "Cannot start an http3 listener without a certificate: set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE)",
      );
    }
    const { Http3Proxy } = await import("../protocols/http3/proxy.ts");
    const listen = parseListenAddr(config.listenAddr);
    const proxy = new Http3Proxy({
      target: config.targetAddr,
      upstream: config.upstream,
      hostname: listen.hostname,
      port: port ?? listen.port,
      cert: loaded.pair.cert,
      key: loaded.pair.key,
      connectTimeoutMs: config.dialTimeoutMs,
      closeTimeoutMs: config.drainTimeoutMs,
      ...(config.connectionTimeoutMs > 0 ? { maxIdleTimeoutMs: config.connectionTimeoutMs } : {}),
      ...(runtime ? { runtime } : {}),
      onRequest: hooks.onRequest,
      onError: hooks.onError,
    });
    try {
      await proxy.listen();
    } catch (error) {
      await proxy.close({ timeoutMs: 0 });
      throw error;
    }
    return new Http3Frontend(proxy);
  }

  /** The proxy's counters: its requests, and as errors its failed upstream exchanges. */
  counters(): HttpCounters {
    const s = this.#proxy.stats();
    return {
      requests: s.requests,
      active: s.activeRequests,
      rejected: s.rejectedStreams,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      errors: s.upstreamErrors,
    };
  }
}
