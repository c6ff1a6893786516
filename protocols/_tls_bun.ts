/**
 * Internal: the shape-only half of the Bun adapter's TLS support (it names no runtime global):
 * options in Bun's format, the verdict on a finished handshake, the peer certificate, and a sink
 * that keeps bytes arriving before anyone reads.
 * @module
 */
import type { PushSink } from "./_native_io.ts";
import type { TlsClientAuth, TlsConnectOptions, TlsListenOptions } from "./runtime.ts";
import type { TlsPeerCertificate } from "./types.ts";

/** `tls` options of `Bun.listen`/`Bun.connect`, as far as we use them. */
export interface BunTlsOptions {
  cert?: string;
  key?: string;
  ca?: string[];
  serverName?: string;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  /** Wire format (length-prefixed names): Bun rejects a JS array. */
  ALPNProtocols?: Uint8Array;
  /** A protocol version number: `0x0303` is TLS 1.2, `0x0304` TLS 1.3 (Bun rejects `"TLSv1.3"`). */
  minVersion?: number;
}

/** What Bun's `getPeerCertificate()` returns (an empty object when there is none). */
export interface BunPeerCertificate {
  subject?: Record<string, string | string[]>;
  issuer?: Record<string, string | string[]>;
  serialNumber?: string;
}

const TLS_VERSION_NUMBER = { "1.2": 0x0303, "1.3": 0x0304 } as const;

/** Encodes ALPN names as TLS does: each name prefixed by its length. */
export function alpnWire(protocols: readonly string[] | undefined): Uint8Array | undefined {
  if (!protocols?.length) return undefined;
  const names = protocols.map((p) => new TextEncoder().encode(p));
  const out = new Uint8Array(names.reduce((n, b) => n + 1 + b.byteLength, 0));
  let off = 0;
  for (const name of names) {
    if (name.byteLength === 0 || name.byteLength > 255) {
      throw new RangeError(`Cannot use ALPN protocol of ${name.byteLength} bytes`);
    }
    out[off++] = name.byteLength;
    out.set(name, off);
    off += name.byteLength;
  }
  return out;
}

/** Bun `tls` options for a server. Client certificates are verified by Bun only for `"require"`; `"optional"` is judged in {@linkcode serverVerdict}. */
export function bunServerTls(options: TlsListenOptions): BunTlsOptions {
  const clientAuth = options.clientAuth ?? "none";
  return {
    cert: options.cert,
    key: options.key,
    ALPNProtocols: alpnWire(options.alpnProtocols),
    minVersion: TLS_VERSION_NUMBER[options.minVersion ?? "1.2"],
    ...(clientAuth === "none" ? {} : {
      ca: options.clientCaCerts,
      requestCert: true,
      rejectUnauthorized: clientAuth === "require",
    }),
  };
}

/** Bun `tls` options for a client. */
export function bunClientTls(options: TlsConnectOptions): BunTlsOptions {
  return {
    serverName: options.serverName || options.hostname,
    ...(options.caCerts?.length ? { ca: options.caCerts } : {}),
    rejectUnauthorized: !options.insecure,
    ALPNProtocols: alpnWire(options.alpnProtocols),
    ...(options.cert !== undefined ? { cert: options.cert, key: options.key } : {}),
  };
}

/** How a side judges a finished handshake. */
export type TlsRole =
  | { readonly side: "client"; readonly insecure: boolean }
  | { readonly side: "server"; readonly clientAuth: TlsClientAuth };

/** Bun's `authorizationError` as text (an Error, a code string, or null). */
export function authorizationText(error: unknown): string | undefined {
  if (error === null || error === undefined) return undefined;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/**
 * Judges a finished handshake: `undefined` when the conn may be used, or the reason it may not.
 * Bun reports `success` and an authorization error for every handshake; a server that did not ask
 * for a client certificate still sees "unable to get issuer certificate", which means nothing there.
 */
export function handshakeVerdict(
  role: TlsRole,
  success: boolean,
  authorizationError: unknown,
  peerPresented: boolean,
): string | undefined {
  const reason = authorizationText(authorizationError);
  if (role.side === "client") {
    if (role.insecure || (success && !reason)) return undefined;
    return reason ?? "the server's certificate was not accepted";
  }
  if (!success) return reason ?? "the handshake failed";
  if (role.clientAuth === "require" && (!peerPresented || reason)) {
    return reason ?? "the client presented no certificate";
  }
  if (role.clientAuth === "optional" && peerPresented && reason) return `client certificate rejected: ${reason}`;
  return undefined;
}

function distinguishedName(name: Record<string, string | string[]> | undefined): string {
  if (!name) return "";
  return Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`).join(", ");
}

/** Maps Bun's peer certificate to ours; `null` when the peer presented none. */
export function peerCertificate(
  raw: BunPeerCertificate | undefined | null,
  verified: boolean,
): TlsPeerCertificate | null {
  if (!raw || raw.serialNumber === undefined) return null;
  return {
    subject: distinguishedName(raw.subject),
    issuer: distinguishedName(raw.issuer),
    serialNumber: raw.serialNumber.toUpperCase(),
    verified,
  };
}

/**
 * Keeps what a Bun socket delivers before a reader attaches (a TLS socket: after its handshake):
 * at most one read batch, as the conn pauses the socket when the first bytes arrive.
 */
export class EarlySink implements PushSink {
  #chunks: Uint8Array[] = [];
  #ended = false;
  #closed = false;
  #error: unknown;

  data(chunk: Uint8Array): void {
    this.#chunks.push(chunk.slice());
  }
  drain(): void {}
  end(): void {
    this.#ended = true;
  }
  close(error?: unknown): void {
    this.#closed = true;
    this.#error = error;
  }
  /** Delivers everything kept, in order, to `sink`. */
  replay(sink: PushSink): void {
    const chunks = this.#chunks;
    this.#chunks = [];
    for (const chunk of chunks) sink.data(chunk);
    if (this.#ended) sink.end();
    if (this.#closed) sink.close(this.#error);
  }
}
