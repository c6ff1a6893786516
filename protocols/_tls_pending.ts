/**
 * Internal: the stand-in a TLS listener binds while its certificate source has no certificate yet
 * (automatic TLS before the first issuance). It accepts TCP, reads the ClientHello, answers with a
 * fatal TLS `internal_error` alert and closes, so clients fail at once with a TLS error instead of
 * hanging; each such connection reports an `EHANDSHAKE` {@linkcode NetError}. The port stays bound
 * meanwhile, so a busy port fails at start and the address is known at once.
 * @module
 */
import { formatAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError } from "./errors.ts";
import type { Incoming, Listener, NetAddr, TcpConn, TlsConn } from "./types.ts";

/** A TLS record: alert (21), version TLS 1.2, length 2, level fatal (2), `internal_error` (80). */
const INTERNAL_ERROR_ALERT = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50]);
/** Longest wait for the ClientHello and then for the client to close, per connection. */
const MAX_WAIT_MS = 2_000;

/** Why handshakes fail while no certificate is available, for the error message. */
export const NO_CERTIFICATE_YET = "no certificate is available yet (the client got a TLS internal_error alert)";

async function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms));
  try {
    const result = await Promise.race([reader.read(), timeout]);
    return result !== "timeout" && !result.done;
  } finally {
    clearTimeout(timer);
  }
}

class AlertIncoming implements Incoming<TlsConn> {
  readonly #inner: Incoming<TcpConn>;
  constructor(inner: Incoming<TcpConn>) {
    this.#inner = inner;
  }
  get remoteAddr(): NetAddr {
    return this.#inner.remoteAddr;
  }
  async handshake(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<TlsConn> {
    const remoteAddr = this.#inner.remoteAddr;
    const conn = await this.#inner.handshake({ signal: options.signal });
    const waitMs = Math.min(options.timeoutMs ?? MAX_WAIT_MS, MAX_WAIT_MS);
    try {
      const reader = conn.readable.getReader();
      // Answer after the ClientHello, and read until the client closes: closing with its bytes
      // unread would reset the connection and the client might never see the alert.
      if (await readWithin(reader, waitMs)) {
        const writer = conn.writable.getWriter();
        await writer.write(INTERNAL_ERROR_ALERT);
        writer.releaseLock();
        await conn.closeWrite();
        const until = Date.now() + waitMs;
        while (Date.now() < until && await readWithin(reader, until - Date.now()));
      }
    } catch {
      /* the client went away first */
    } finally {
      conn.close();
    }
    throw new NetError(
      "EHANDSHAKE",
      `Cannot handshake with "${formatAddr(remoteAddr)}" over tls: ${NET_ERROR_TEXT.EHANDSHAKE}: ${NO_CERTIFICATE_YET}`,
      { op: "handshake", protocol: "tls", remoteAddr },
    );
  }
  reject(): void {
    this.#inner.reject();
  }
}

/** A TCP listener whose connections get a TLS alert instead of a handshake. */
export class NoCertificateListener implements Listener<TlsConn> {
  readonly #inner: Listener<TcpConn>;
  constructor(inner: Listener<TcpConn>) {
    this.#inner = inner;
  }
  get addr(): NetAddr {
    return this.#inner.addr;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Incoming<TlsConn>> {
    for await (const incoming of this.#inner) yield new AlertIncoming(incoming);
  }
  close(): void {
    this.#inner.close();
  }
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
