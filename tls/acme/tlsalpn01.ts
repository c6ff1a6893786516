/**
 * TLS-ALPN-01 challenges (RFC 8737), on Bun only: {@linkcode TlsAlpnResponder} keeps the
 * challenge certificates and serves them from a `node:tls` server that negotiates `acme-tls/1`,
 * or through {@linkcode TlsAlpnResponder.certificateFor} from an existing TLS listener. Deno's
 * TLS stacks reject the challenge certificate (its `listenTls`: the critical acmeIdentifier
 * extension; `node:tls` on Deno: "unsupported protocol"), so on Deno
 * {@linkcode tlsAlpnSupported} is false and asking for it throws `UnsupportedChallengeError`.
 * @module
 */
import type { Server, TLSSocket } from "node:tls";
import type { CertificatePair } from "./certificate.ts";
import type { HttpChallengeListenOptions, HttpChallengeServer } from "./http01.ts";

/** The ALPN protocol of TLS-ALPN-01 validation connections. */
export const ACME_TLS_ALPN_PROTOCOL = "acme-tls/1";
/** Default port of the TLS-ALPN-01 server; CAs validate on port 443. */
export const DEFAULT_TLS_ALPN_CHALLENGE_PORT = 443;

/**
 * Whether this runtime can answer TLS-ALPN-01: true on Bun (measured against pebble), false on
 * Deno, whose TLS rejects the challenge certificate.
 *
 * @returns Whether TLS-ALPN-01 can be used.
 */
export function tlsAlpnSupported(): boolean {
  return "Bun" in globalThis;
}

/**
 * The TLS-ALPN-01 challenge certificates being validated, by domain.
 *
 * @example Serve challenges from an existing TLS listener
 * ```ts ignore
 * // In the listener's SNI callback, when the client offers ALPN "acme-tls/1":
 * const pair = manager.handleTlsAlpnChallenge(serverName); // { cert, key } or undefined
 * ```
 */
export class TlsAlpnResponder {
  readonly #certs = new Map<string, CertificatePair>();

  /** Publishes the challenge certificate for `domain`. */
  set(domain: string, pair: CertificatePair): void {
    this.#certs.set(domain.toLowerCase(), pair);
  }

  /** Withdraws the challenge certificate for `domain`. */
  delete(domain: string): void {
    this.#certs.delete(domain.toLowerCase());
  }

  /**
   * The challenge certificate to present for `serverName` on an `acme-tls/1` connection.
   *
   * @param serverName The SNI name.
   * @returns The certificate and key, or `undefined` if no challenge is pending for it.
   */
  certificateFor(serverName: string): CertificatePair | undefined {
    return this.#certs.get(serverName.toLowerCase().replace(/\.$/, ""));
  }

  /**
   * Starts a `node:tls` server that negotiates only `acme-tls/1` and presents the challenge
   * certificate of the requested name, then closes each connection.
   *
   * @param options Address and port. @default {`{ hostname: "0.0.0.0", port: 443 }`}
   * @returns The running server.
   * @throws {Error} If the address cannot be bound.
   */
  async listen(options: HttpChallengeListenOptions = {}): Promise<HttpChallengeServer> {
    const { hostname = "0.0.0.0", port = DEFAULT_TLS_ALPN_CHALLENGE_PORT } = options;
    const tls = await import("node:tls");
    const server: Server = tls.createServer({
      ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
      SNICallback: (name, done) => {
        const pair = this.certificateFor(name);
        if (!pair) return done(new Error(`no TLS-ALPN-01 challenge for "${name}"`), undefined);
        done(null, tls.createSecureContext({ cert: pair.cert, key: pair.key }));
      },
    }, (socket: TLSSocket) => socket.end());
    server.on("tlsClientError", () => {}); // probes without a pending challenge
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    const bound = typeof address === "object" && address ? address.port : port;
    let closed: Promise<void> | undefined;
    const close = () => closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return { hostname, port: bound, close, [Symbol.asyncDispose]: close };
  }
}
