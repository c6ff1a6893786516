/**
 * The `tls` protocol: TLS over TCP through the runtime adapter, with certificates from files that
 * are reloaded when they change, ALPN, a minimum version, client certificates (mutual TLS) and
 * verified dials.
 * @module
 */
import { type CertificateSummary, FilePoller, type KeyPair, loadCa, loadKeyPair } from "./_tls_files.ts";
import { ReloadingTlsListener, type TlsListener, type TlsReloadEvent } from "./_tls_listener.ts";
import { NoCertificateListener } from "./_tls_pending.ts";
import { ANY_HOST, ANY_HOST_V4 } from "./address.ts";
import { NetError } from "./errors.ts";
import { defaultRuntime, type Runtime, type TlsClientAuth, type TlsMinVersion } from "./runtime.ts";
import type { DialAddr, DialOptions, ListenAddr, Listener, ListenOptions, Protocol, TlsConn } from "./types.ts";

export type { CertificateSummary, TlsListener, TlsReloadEvent };

/** Default lowest TLS version a {@linkcode TlsProtocol} listener accepts. */
export const DEFAULT_TLS_MIN_VERSION: TlsMinVersion = "1.2";
/** Default client-certificate policy of a {@linkcode TlsProtocol} listener. */
export const DEFAULT_TLS_CLIENT_AUTH: TlsClientAuth = "none";
/** Default time between checks of the certificate files, in milliseconds. */
export const DEFAULT_TLS_RELOAD_INTERVAL_MS = 5_000;
/** Default deadline of a server handshake whose caller sets none, in milliseconds (Go's `TLSHandshakeTimeout`). */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A certificate chain and its private key, as PEM text. */
export interface TlsCertificatePair {
  /** Certificate chain, leaf first (PEM). */
  readonly cert: string;
  /** Private key of the leaf (PEM). */
  readonly key: string;
}

/**
 * Certificates that come from somewhere other than files, such as an ACME manager:
 * `AutoManager.tlsConfig()` from `@ts-tunnel/tunnel/tls` has this shape.
 */
export interface TlsCertificateSource {
  /** The certificate for a TLS server name (SNI), or `undefined` if none covers it (yet). */
  certificateFor(serverName: string): TlsCertificatePair | undefined;
  /** The certificate for clients without SNI (and for listeners that serve one certificate), or `undefined` (yet). */
  defaultCertificate(): TlsCertificatePair | undefined;
  /** Calls `listener` whenever a certificate changes; dispose the result to stop. */
  onCertificateChange(listener: () => void): Disposable;
}

/** The listening side of {@linkcode TlsProtocol}. */
export interface TlsServerOptions {
  /** Certificate chain file (PEM, leaf first); reloaded when it changes. Pair with `keyFile`. */
  certFile?: string;
  /** Private key file (PEM) of the leaf in `certFile`. */
  keyFile?: string;
  /** Certificate chain as a PEM string, instead of `certFile`. Pair with `key`. */
  cert?: string;
  /** Private key as a PEM string, instead of `keyFile`. */
  key?: string;
  /**
   * Certificates from a source instead of `certFile`/`cert`, for example an ACME manager's
   * `tlsConfig()`. The runtimes' TLS listeners take one certificate each (Bun's `Bun.listen`
   * refuses a list of SNI contexts, `Deno.listenTls` takes one pair), so the listener serves
   * `defaultCertificate()` to every client, whatever its SNI name, and swaps it in (a new runtime
   * listener binds beside the old one, as a file reload does) on each change. Until the source has
   * a certificate, the port is bound and every handshake is answered with a fatal TLS
   * `internal_error` alert (an `EHANDSHAKE` error on the accepted conn).
   */
  certificates?: TlsCertificateSource;
  /** Lowest TLS version accepted. `"1.3"` needs Bun (Deno has no such setting). @default {"1.2"} */
  minVersion?: TlsMinVersion;
  /** ALPN protocols to accept, most preferred first (e.g. `["h2", "http/1.1"]`). @default {[]} */
  alpnProtocols?: readonly string[];
  /**
   * Whether to ask clients for a certificate: `"optional"` verifies one if given, `"require"`
   * rejects clients without a valid one. Anything but `"none"` needs Bun. @default {"none"}
   */
  clientAuth?: TlsClientAuth;
  /** CA bundle file (PEM) that client certificates must chain to; reloaded with the certificate. */
  clientCaFile?: string;
  /** CA bundle as a PEM string, instead of `clientCaFile`. */
  clientCa?: string;
  /** How often to check `certFile`, `keyFile` and `clientCaFile` for changes; 0 turns reloading off. @default {5_000} */
  reloadIntervalMs?: number;
  /** Deadline for a handshake when `Incoming.handshake` is given none. @default {10_000} */
  handshakeTimeoutMs?: number;
  /** Called after each reload: the new certificate, or why the old one stays. */
  onReload?: (event: TlsReloadEvent) => void;
}

/** The dialing side of {@linkcode TlsProtocol}. */
export interface TlsClientOptions {
  /** Name to send (SNI) and to verify the server's certificate against. @default {the dialed hostname} */
  serverName?: string;
  /**
   * CA bundle file (PEM) to trust. On Bun it replaces the built-in roots; on Deno it is added to
   * them. @default {the runtime's roots}
   */
  caFile?: string;
  /** CA bundle as a PEM string, instead of `caFile`. */
  ca?: string;
  /** Skip verifying the server's certificate. Must be asked for; Bun only. @default {false} */
  insecure?: boolean;
  /** ALPN protocols to offer, most preferred first. @default {[]} */
  alpnProtocols?: readonly string[];
  /** Client certificate chain file (PEM) for mutual TLS. Pair with `keyFile`. */
  certFile?: string;
  /** Private key file (PEM) of the client certificate. */
  keyFile?: string;
  /** Client certificate chain as a PEM string. Pair with `key`. */
  cert?: string;
  /** Private key of the client certificate, as a PEM string. */
  key?: string;
}

/** Options for {@linkcode TlsProtocol}. */
export interface TlsProtocolOptions {
  /** The runtime adapter to use. @default {the adapter for the running runtime} */
  runtime?: Runtime;
  /** How to listen; required by {@linkcode TlsProtocol.listen}. */
  server?: TlsServerOptions;
  /** How to dial. @default {verify against the runtime's roots, no ALPN, no client certificate} */
  client?: TlsClientOptions;
}

const MIN_VERSIONS: readonly TlsMinVersion[] = ["1.2", "1.3"];
const CLIENT_AUTHS: readonly TlsClientAuth[] = ["none", "optional", "require"];

function fail(message: string): never {
  throw new TypeError(`Cannot create the tls protocol: ${message}`);
}

function checkPair(side: string, o: { certFile?: string; keyFile?: string; cert?: string; key?: string }): void {
  if (o.certFile !== undefined && o.cert !== undefined) fail(`set "${side}.certFile" or "${side}.cert", not both`);
  if (o.keyFile !== undefined && o.key !== undefined) fail(`set "${side}.keyFile" or "${side}.key", not both`);
  const hasCert = o.certFile !== undefined || o.cert !== undefined;
  const hasKey = o.keyFile !== undefined || o.key !== undefined;
  if (hasCert && !hasKey) {
    fail(`"${side}.${o.certFile !== undefined ? "certFile" : "cert"}" needs a key: set "${side}.keyFile"`);
  }
  if (hasKey && !hasCert) {
    fail(`"${side}.${o.keyFile !== undefined ? "keyFile" : "key"}" needs a certificate: set "${side}.certFile"`);
  }
}

function checkAlpn(side: string, protocols: readonly string[] | undefined): void {
  for (const p of protocols ?? []) {
    const bytes = typeof p === "string" ? new TextEncoder().encode(p).byteLength : 0;
    if (bytes === 0 || bytes > 255) {
      fail(`each of "${side}.alpnProtocols" must be a name of 1 to 255 bytes: current value is ${JSON.stringify(p)}`);
    }
  }
}

function checkServer(o: TlsServerOptions): void {
  checkPair("server", o);
  if (o.certificates !== undefined) {
    if (o.certFile !== undefined || o.cert !== undefined) {
      fail(`set "server.certificates" or "server.${o.certFile !== undefined ? "certFile" : "cert"}", not both`);
    }
    const source = o.certificates as unknown as Record<string, unknown>;
    const missing = ["certificateFor", "defaultCertificate", "onCertificateChange"].find((name) =>
      typeof source?.[name] !== "function"
    );
    if (missing) {
      fail(`"server.certificates" must have a ${missing}() method (an AutoManager's tlsConfig() has all three)`);
    }
  }
  checkAlpn("server", o.alpnProtocols);
  if (o.minVersion !== undefined && !MIN_VERSIONS.includes(o.minVersion)) {
    throw new RangeError(
      `Cannot create the tls protocol: "server.minVersion" must be "1.2" or "1.3": current value is ${
        JSON.stringify(o.minVersion)
      }`,
    );
  }
  if (o.clientAuth !== undefined && !CLIENT_AUTHS.includes(o.clientAuth)) {
    throw new RangeError(
      `Cannot create the tls protocol: "server.clientAuth" must be "none", "optional" or "require": current value is ${
        JSON.stringify(o.clientAuth)
      }`,
    );
  }
  if (o.clientCaFile !== undefined && o.clientCa !== undefined) {
    fail(`set "server.clientCaFile" or "server.clientCa", not both`);
  }
  if ((o.clientAuth ?? "none") !== "none" && o.clientCaFile === undefined && o.clientCa === undefined) {
    fail(
      `"server.clientAuth" is "${o.clientAuth}": set "server.clientCaFile" to the CA that signs client certificates`,
    );
  }
  for (const key of ["reloadIntervalMs", "handshakeTimeoutMs"] as const) {
    const value = o[key];
    if (value !== undefined && !(Number.isInteger(value) && value >= (key === "reloadIntervalMs" ? 0 : 1))) {
      throw new RangeError(
        `Cannot create the tls protocol: "server.${key}" must be ${
          key === "reloadIntervalMs" ? "a non-negative" : "a positive"
        } integer: current value is ${value}`,
      );
    }
  }
}

function checkClient(o: TlsClientOptions): void {
  checkPair("client", o);
  checkAlpn("client", o.alpnProtocols);
  if (o.caFile !== undefined && o.ca !== undefined) fail(`set "client.caFile" or "client.ca", not both`);
  if (o.insecure !== undefined && typeof o.insecure !== "boolean") {
    fail(`"client.insecure" must be true or false: current value is ${JSON.stringify(o.insecure)}`);
  }
}

/** Reads and checks the source's default certificate. */
async function loadFromSource(source: TlsCertificateSource): Promise<KeyPair> {
  const pair = source.defaultCertificate();
  if (!pair) throw new Error("Cannot load the TLS certificate: the certificate source has none yet");
  return await loadKeyPair({ cert: pair.cert, key: pair.key });
}

/** What a dial needs, loaded once per protocol. */
interface ClientMaterial {
  caCerts?: string[];
  cert?: string;
  key?: string;
}

/**
 * TLS over TCP. `listen()` serves a certificate (from files, reloaded when they change, PEM
 * strings, or a certificate source such as an ACME manager's `tlsConfig()`); each accepted conn handshakes in `Incoming.handshake`, off the accept loop, under a
 * deadline. `dial()` verifies the server's certificate unless `insecure` is asked for.
 *
 * Runtime limits: Deno cannot request client certificates, cannot restrict the version to TLS 1.3
 * and cannot skip verification; those options throw {@linkcode UnsupportedTlsOptionError} there.
 * Deno reports neither the TLS version nor the peer's certificate (`undefined` on {@linkcode TlsConn}).
 *
 * @example Terminate TLS and dial a TLS upstream
 * ```ts ignore
 * import { TlsProtocol } from "@ts-tunnel/tunnel/protocols";
 * const tls = new TlsProtocol({
 *   server: { certFile: "fullchain.pem", keyFile: "key.pem", alpnProtocols: ["h2", "http/1.1"] },
 *   client: { serverName: "backend.internal", caFile: "ca.pem" },
 * });
 * await using listener = await tls.listen({ hostname: "127.0.0.1", port: 8443 });
 * for await (const incoming of listener) {
 *   const conn = await incoming.handshake({ timeoutMs: 5_000 });
 *   console.log(conn.alpnProtocol);
 * }
 * ```
 */
export class TlsProtocol implements Protocol {
  /** Always `"tls"`. */
  readonly name = "tls" as const;
  readonly #runtime: Promise<Runtime>;
  readonly #server: TlsServerOptions | undefined;
  readonly #client: TlsClientOptions;
  #clientMaterial?: Promise<ClientMaterial>;

  /**
   * Creates the protocol; files are read when listening or dialing.
   *
   * @param options The runtime, and the server and client settings.
   * @throws {TypeError} For conflicting or incomplete options (e.g. `certFile` without `keyFile`).
   * @throws {RangeError} For an unknown `minVersion` or `clientAuth`, or a bad interval.
   */
  constructor(options: TlsProtocolOptions = {}) {
    if (options.server) checkServer(options.server);
    if (options.client) checkClient(options.client);
    this.#server = options.server;
    this.#client = options.client ?? {};
    this.#runtime = options.runtime ? Promise.resolve(options.runtime) : defaultRuntime();
  }

  /**
   * Binds a TLS listener. The certificate and key are checked first (they must parse and match).
   *
   * @param addr Where to listen; no hostname means every interface.
   * @param options Socket options and cancellation.
   * @returns The listener; its `reload()` swaps in the current files (or the source's certificate).
   * @throws {TypeError} If no server certificate is configured.
   * @throws {Error} If a certificate, key or CA file is unreadable or invalid (the message names it).
   * @throws {UnsupportedTlsOptionError} For an option this runtime cannot honour.
   * @throws {NetError} EADDRINUSE, EACCES or EADDRNOTAVAIL.
   */
  async listen(addr: ListenAddr, options: ListenOptions = {}): Promise<TlsListener> {
    const server = this.#server;
    const source = server?.certificates;
    if (!server || (server.certFile === undefined && server.cert === undefined && source === undefined)) {
      throw new TypeError(
        'Cannot listen over tls: set "server.certFile" and "server.keyFile" (or "server.cert" and "server.key")',
      );
    }
    const {
      minVersion = DEFAULT_TLS_MIN_VERSION,
      clientAuth = DEFAULT_TLS_CLIENT_AUTH,
      reloadIntervalMs = DEFAULT_TLS_RELOAD_INTERVAL_MS,
      handshakeTimeoutMs = DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
      alpnProtocols = [],
    } = server;
    const runtime = await this.#runtime;
    options.signal?.throwIfAborted();
    const files = [server.certFile, server.keyFile, server.clientCaFile].filter((f): f is string => f !== undefined);
    const reloadable = files.length > 0 || source !== undefined;
    const seen = files.length > 0 ? await FilePoller.snapshot(files) : "";
    const load = async (): Promise<KeyPair> => {
      const [pair, clientCa] = await Promise.all([
        source ? loadFromSource(source) : loadKeyPair(server),
        clientAuth === "none"
          ? undefined
          : loadCa({ file: server.clientCaFile, pem: server.clientCa }, "client CA bundle"),
      ]);
      return { ...pair, clientCa };
    };
    const bind = (pair: KeyPair, hostname: string, port: number, reusePort: boolean) =>
      runtime.listenTls({
        hostname,
        port,
        noDelay: options.noDelay ?? true,
        keepAlive: options.keepAlive,
        cert: pair.cert,
        key: pair.key,
        alpnProtocols: [...alpnProtocols],
        minVersion,
        clientAuth,
        clientCaCerts: pair.clientCa !== undefined ? [pair.clientCa] : undefined,
        reusePort,
      });
    // Changes the source reports while binding are applied once the listener exists.
    const late: { listener?: ReloadingTlsListener; changed: boolean } = { changed: false };
    const onChange = () => {
      if (late.listener) void late.listener.reload().catch(() => {}); // reported through onReload
      else late.changed = true;
    };
    const subscription = source?.onCertificateChange(onChange);
    let pair: KeyPair | undefined;
    let first: Listener<TlsConn>;
    let hostname = addr.hostname || ANY_HOST;
    try {
      pair = source && !source.defaultCertificate() ? undefined : await load();
      options.signal?.throwIfAborted();
      // A reloadable listener binds with SO_REUSEPORT (so a reload can bind beside it). That option
      // would also let a second process share a busy port silently, so a fixed port is first bound
      // once without it: a port in use still fails with EADDRINUSE. Without a certificate yet, a
      // stand-in answers every handshake with a TLS alert until the first one arrives.
      const bindFirst = async (hostname: string): Promise<Listener<TlsConn>> => {
        if (!pair) {
          const tcp = await runtime.listenTcp({ hostname, port: addr.port, keepAlive: options.keepAlive });
          return new NoCertificateListener(tcp);
        }
        if (reloadable && addr.port !== 0) {
          const probe = await runtime.listenTcp({ hostname, port: addr.port });
          probe.close();
        }
        return await bind(pair, hostname, addr.port, reloadable);
      };
      try {
        first = await bindFirst(hostname);
      } catch (error) {
        // No host (Go's ":8443"): every interface, dual-stack; IPv4 only where the machine has no IPv6.
        const noIpv6 = error instanceof NetError && (error.code === "EADDRNOTAVAIL" || error.code === "EUNKNOWN");
        if (addr.hostname || !noIpv6) throw error;
        hostname = ANY_HOST_V4;
        first = await bindFirst(hostname);
      }
    } catch (error) {
      subscription?.[Symbol.dispose]();
      throw error;
    }
    const listener = late.listener = new ReloadingTlsListener(first, pair, {
      bind,
      load,
      hostname,
      handshakeTimeoutMs,
      reloadable,
      onReload: server.onReload,
    });
    const poller = files.length > 0 && reloadIntervalMs > 0
      ? FilePoller.start({ paths: files, intervalMs: reloadIntervalMs, onChange }, seen)
      : undefined;
    listener.onClose = () => {
      poller?.stop();
      subscription?.[Symbol.dispose]();
    };
    if (late.changed) onChange();
    return listener;
  }

  #loadClient(): Promise<ClientMaterial> {
    const client = this.#client;
    const pending = (async (): Promise<ClientMaterial> => {
      const hasCa = client.caFile !== undefined || client.ca !== undefined;
      const hasPair = client.certFile !== undefined || client.cert !== undefined;
      const [ca, pair] = await Promise.all([
        hasCa ? loadCa({ file: client.caFile, pem: client.ca }, "CA bundle") : undefined,
        hasPair ? loadKeyPair(client) : undefined,
      ]);
      return { caCerts: ca !== undefined ? [ca] : undefined, cert: pair?.cert, key: pair?.key };
    })();
    pending.catch(() => this.#clientMaterial = undefined); // a fixed file is read again on the next dial
    return this.#clientMaterial = pending;
  }

  /**
   * Opens a TLS connection and completes the handshake, verifying the server's certificate against
   * `client.caFile` (or the runtime's roots) and `client.serverName` (or the dialed hostname).
   *
   * @param addr The server.
   * @param options Socket options, cancellation and a deadline covering connect and handshake.
   * @returns The conn, with the negotiated ALPN protocol.
   * @throws {NetError} ECONNREFUSED, ENOTFOUND, EHANDSHAKE (verification or protocol failure) or ETIMEDOUT.
   * @throws {UnsupportedTlsOptionError} For an option this runtime cannot honour (`insecure` on Deno).
   */
  async dial(addr: DialAddr, options: DialOptions = {}): Promise<TlsConn> {
    const runtime = await this.#runtime;
    const material = await (this.#clientMaterial ?? this.#loadClient());
    const client = this.#client;
    return await runtime.connectTls({
      hostname: addr.hostname,
      port: addr.port,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      noDelay: options.noDelay ?? true,
      keepAlive: options.keepAlive,
      serverName: client.serverName,
      caCerts: material.caCerts,
      insecure: client.insecure === true,
      alpnProtocols: client.alpnProtocols ? [...client.alpnProtocols] : undefined,
      cert: material.cert,
      key: material.key,
    });
  }
}
