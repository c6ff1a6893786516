/**
 * Internal: the listener of a {@linkcode Tunnel} with `protocol: "http2"`: an `Http2Proxy` (loaded
 * only then) on the tunnel's listen address, forwarding to its target. The certificate comes from
 * `tls.certFile`/`tls.keyFile`, checked every `reloadIntervalMs` and swapped in with
 * `setCertificate()` when they change (the same poller and checks as the `tls` listener), or from
 * a certificate source (automatic TLS), looked up by SNI name on every handshake.
 * @module
 */
import { FilePoller, loadKeyPair } from "../protocols/_tls_files.ts";
import type { TlsReloadEvent } from "../protocols/_tls_listener.ts";
import { parseListenAddr } from "../protocols/address.ts";
import type { Http2Proxy } from "../protocols/http2/proxy.ts";
import { DEFAULT_TLS_RELOAD_INTERVAL_MS, type TlsCertificateSource } from "../protocols/tls.ts";
import type { ResolvedTunnelConfig } from "./config.ts";
import { type HttpCounters, type HttpFrontendHooks, loadListenerKeyPair, ProxyFrontend } from "./_http_frontend.ts";

/** Where to bind and what to advertise, when the tunnel decides instead of its config (h3 beside h2). */
export interface Http2FrontendOverrides {
  /** The TCP port. @default {the port of `listenAddr`} */
  port?: number;
  /** The `Alt-Svc` value. @default {`altSvc` of the config} */
  altSvc?: number | string;
}

/** A running HTTP/2 listener. */
export class Http2Frontend extends ProxyFrontend {
  readonly #proxy: Http2Proxy;

  private constructor(proxy: Http2Proxy, stopWatching: () => void) {
    super("http2", proxy, (timeoutMs, signal) => {
      stopWatching();
      return proxy.close({ timeoutMs, signal });
    });
    this.#proxy = proxy;
  }

  /**
   * Creates the proxy and binds it.
   *
   * @throws {Error} If the certificate files are unreadable or invalid.
   * @throws {NetError} If the address cannot be bound.
   */
  static async start(
    config: ResolvedTunnelConfig,
    certificates: TlsCertificateSource | undefined,
    hooks: HttpFrontendHooks,
    overrides: Http2FrontendOverrides = {},
  ): Promise<Http2Frontend> {
    const { Http2Proxy } = await import("../protocols/http2/proxy.ts");
    const { hostname, port } = parseListenAddr(config.listenAddr);
    const tls = config.tls;
    const loaded = await loadListenerKeyPair(config);
    const proxy = new Http2Proxy({
      target: config.targetAddr,
      upstream: config.upstream,
      hostname,
      port: overrides.port ?? port,
      h2c: config.h2c,
      ...(loaded ? { cert: loaded.pair.cert, key: loaded.pair.key } : {}),
      ...(config.autoTls ? { certificates } : {}),
      minVersion: tls?.minVersion,
      connectAllow: config.connectAllow,
      altSvc: overrides.altSvc ?? config.altSvc,
      connectTimeoutMs: config.dialTimeoutMs,
      closeTimeoutMs: config.drainTimeoutMs,
      onRequest: hooks.onRequest,
      onError: hooks.onError,
    });
    let stopWatching = () => {};
    if (loaded && (tls?.reloadIntervalMs ?? DEFAULT_TLS_RELOAD_INTERVAL_MS) > 0) {
      const { files } = loaded;
      const report = (event: TlsReloadEvent) => {
        try {
          hooks.onReload?.(event);
        } catch { /* an observer's failure is not ours */ }
      };
      const poller = FilePoller.start({
        paths: [files.certFile, files.keyFile],
        intervalMs: tls?.reloadIntervalMs ?? DEFAULT_TLS_RELOAD_INTERVAL_MS,
        onChange: () =>
          void loadKeyPair(files).then((next) => {
            proxy.setCertificate(next.cert, next.key);
            report({ ok: true, certificate: next.summary });
          }).catch((error) => report({ ok: false, error: error instanceof Error ? error : new Error(String(error)) })),
      }, loaded.seen);
      stopWatching = () => poller.stop();
    } else if (config.autoTls && certificates) {
      // SNI clients get the source's certificate on every handshake; this keeps the certificate
      // for clients without SNI current.
      const subscription = certificates.onCertificateChange(() => {
        const current = certificates.defaultCertificate();
        try {
          if (current) proxy.setCertificate(current.cert, current.key);
        } catch { /* a certificate that does not parse: the previous one stays */ }
      });
      stopWatching = () => subscription[Symbol.dispose]();
    }
    try {
      await proxy.listen();
    } catch (error) {
      stopWatching();
      await proxy.close({ timeoutMs: 0 });
      throw error;
    }
    return new Http2Frontend(proxy, stopWatching);
  }

  /** The proxy's counters: requests, CONNECT tunnels and upgrades are its requests, streams its active ones. */
  counters(): HttpCounters {
    const s = this.#proxy.stats();
    return {
      requests: s.requests,
      active: s.activeStreams,
      rejected: s.rejected,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      errors: s.upstreamErrors,
    };
  }
}
