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
import type { NetError } from "../protocols/errors.ts";
import type { Http2Proxy, Http2ProxyStats } from "../protocols/http2/proxy.ts";
import { DEFAULT_TLS_RELOAD_INTERVAL_MS, type TlsCertificateSource } from "../protocols/tls.ts";
import type { NetAddr } from "../protocols/types.ts";
import type { ResolvedTunnelConfig } from "./config.ts";

/** What the tunnel hears from its proxy. */
export interface Http2FrontendHooks {
  /** A request, CONNECT tunnel or upgrade arrived. */
  onRequest(remoteAddr: NetAddr): void;
  /** An exchange failed on the upstream side (the client got 502/504 or a reset). */
  onError(error: NetError): void;
  /** A certificate reload from files succeeded or failed. */
  onReload?(event: TlsReloadEvent): void;
}

/** A running HTTP/2 listener. */
export class Http2Frontend {
  readonly #proxy: Http2Proxy;
  readonly #stopWatching: () => void;
  readonly #force = new AbortController();
  #closed: Promise<void> | undefined;

  private constructor(proxy: Http2Proxy, stopWatching: () => void) {
    this.#proxy = proxy;
    this.#stopWatching = stopWatching;
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
    hooks: Http2FrontendHooks,
  ): Promise<Http2Frontend> {
    const { Http2Proxy } = await import("../protocols/http2/proxy.ts");
    const { hostname, port } = parseListenAddr(config.listenAddr);
    const tls = config.tls;
    const files = !config.h2c && !config.autoTls && tls?.certFile && tls.keyFile
      ? { certFile: tls.certFile, keyFile: tls.keyFile }
      : undefined;
    const seen = files ? await FilePoller.snapshot([files.certFile, files.keyFile]) : "";
    const pair = files ? await loadKeyPair(files) : undefined;
    const proxy = new Http2Proxy({
      target: config.targetAddr,
      upstream: config.upstream,
      hostname,
      port,
      h2c: config.h2c,
      ...(pair ? { cert: pair.cert, key: pair.key } : {}),
      ...(config.autoTls ? { certificates } : {}),
      minVersion: tls?.minVersion,
      connectAllow: config.connectAllow,
      altSvc: config.altSvc,
      connectTimeoutMs: config.dialTimeoutMs,
      closeTimeoutMs: config.drainTimeoutMs,
      onRequest: hooks.onRequest,
      onError: hooks.onError,
    });
    let stopWatching = () => {};
    if (files && (tls?.reloadIntervalMs ?? DEFAULT_TLS_RELOAD_INTERVAL_MS) > 0) {
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
      }, seen);
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

  /** The bound address. */
  get addr(): NetAddr {
    return this.#proxy.addr;
  }

  /** The proxy's counters. */
  stats(): Http2ProxyStats {
    return this.#proxy.stats();
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `timeoutMs` (or until `signal`
   * aborts or {@linkcode Http2Frontend.abort} runs), then closes the rest. Idempotent.
   */
  close(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    if (!this.#closed) {
      this.#stopWatching();
      const signal = options.signal ? AbortSignal.any([options.signal, this.#force.signal]) : this.#force.signal;
      this.#closed = this.#proxy.close({ timeoutMs: options.timeoutMs, signal });
    }
    return this.#closed;
  }

  /** Closes everything at once (a pending or later {@linkcode Http2Frontend.close} ends now). */
  abort(): void {
    this.#force.abort();
    void this.close({ timeoutMs: 0 });
  }
}
