/**
 * Internal: the listener {@linkcode TlsProtocol.listen} returns. It applies a default handshake
 * deadline and swaps in a new runtime listener when the certificate changes: the new one binds the
 * same port with `SO_REUSEPORT` before the old one closes, so new handshakes use the new
 * certificate while accepted conns carry on untouched.
 * @module
 */
import type { CertificateSummary, KeyPair } from "./_tls_files.ts";
import { NetError, ServerClosedError } from "./errors.ts";
import type { Incoming, Listener, NetAddr, TlsConn } from "./types.ts";

/** A TLS listener whose certificate can be replaced while it runs. */
export interface TlsListener extends Listener<TlsConn> {
  /**
   * The certificate that new handshakes use; `undefined` while a certificate source has none yet
   * (handshakes then get a TLS `internal_error` alert).
   */
  readonly certificate: CertificateSummary | undefined;
  /**
   * Loads the certificate and key again (from their files, when they came from files) and makes new
   * handshakes use them. It resolves once all of them do: the replaced runtime listener keeps
   * accepting, with the old certificate, for up to 200 ms, so that connections in its queue are not
   * reset. On failure the current certificate stays in use.
   *
   * @returns The certificate now in use.
   * @throws {Error} If the new files are unreadable, do not parse, or do not match.
   */
  reload(): Promise<CertificateSummary>;
}

/** The outcome of a certificate reload, as passed to `onReload`. */
export type TlsReloadEvent =
  | { readonly ok: true; readonly certificate: CertificateSummary }
  | { readonly ok: false; readonly error: Error };

/** How {@linkcode ReloadingTlsListener} binds and loads. */
export interface ReloadingTlsListenerOptions {
  /** Binds a runtime listener on `hostname`:`port` with `pair`. */
  bind(pair: KeyPair, hostname: string, port: number, reusePort: boolean): Promise<Listener<TlsConn>>;
  /** Loads the current key pair (from files or PEM). */
  load(): Promise<KeyPair>;
  /** The host the first listener bound (a rebind uses the same). */
  hostname: string;
  /** Deadline for handshakes whose caller gives none. */
  handshakeTimeoutMs: number;
  /** False when the key pair came as PEM strings: `reload()` then has nothing new to load. */
  reloadable: boolean;
  /** Called after every reload attempt; exceptions it throws are ignored. */
  onReload?: (event: TlsReloadEvent) => void;
}

/** Accepted conns waiting for the iterator; beyond this many, new ones are refused. */
const MAX_QUEUED = 4096;
/** How long a replaced runtime listener keeps accepting after a reload. */
const RETIRE_GRACE_MS = 200;
/** First and largest pause after a failed accept. */
const ACCEPT_BACKOFF_MIN_MS = 5;
const ACCEPT_BACKOFF_MAX_MS = 1_000;

/** Gives an accepted conn the listener's handshake deadline when its caller sets none. */
class DeadlineIncoming implements Incoming<TlsConn> {
  readonly #inner: Incoming<TlsConn>;
  readonly #timeoutMs: number;
  constructor(inner: Incoming<TlsConn>, timeoutMs: number) {
    this.#inner = inner;
    this.#timeoutMs = timeoutMs;
  }
  get remoteAddr(): NetAddr {
    return this.#inner.remoteAddr;
  }
  handshake(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<TlsConn> {
    return this.#inner.handshake({ signal: options.signal, timeoutMs: options.timeoutMs ?? this.#timeoutMs });
  }
  reject(): void {
    this.#inner.reject();
  }
}

/** See the module doc. */
export class ReloadingTlsListener implements TlsListener {
  readonly addr: NetAddr;
  #certificate: CertificateSummary | undefined;
  readonly #options: ReloadingTlsListenerOptions;
  #current: Listener<TlsConn> | undefined;
  readonly #pumps = new Map<Listener<TlsConn>, Promise<void>>();
  #queue: (Incoming<TlsConn> | { error: unknown })[] = [];
  #waiter?: PromiseWithResolvers<void>;
  #failure?: { error: unknown };
  #reloading: Promise<unknown> = Promise.resolve();
  #isClosed = false;
  /** Replaced runtime listeners that still accept for {@linkcode RETIRE_GRACE_MS}, each with its closer. */
  readonly #retiring = new Map<Listener<TlsConn>, () => void>();
  /** Called by close(), e.g. to stop a file poller. */
  onClose?: () => void;

  constructor(first: Listener<TlsConn>, pair: KeyPair | undefined, options: ReloadingTlsListenerOptions) {
    this.addr = first.addr;
    this.#certificate = pair?.summary;
    this.#options = options;
    this.#adopt(first);
  }

  get certificate(): CertificateSummary | undefined {
    return this.#certificate;
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  /**
   * Makes `raw` the current listener and moves its accepted conns into the queue. An accept error
   * (say EMFILE) is handed to the iterator once, and accepting resumes after a backoff, as Go's
   * `http.Server` does: a transient failure must not end the listener.
   */
  #adopt(raw: Listener<TlsConn>): void {
    this.#current = raw;
    const pump = (async () => {
      let backoff = 0;
      while (!this.#isClosed && this.#accepting(raw)) {
        try {
          for await (const incoming of raw) {
            backoff = 0;
            if (this.#isClosed || this.#queue.length >= MAX_QUEUED) {
              incoming.reject();
              continue;
            }
            this.#queue.push(incoming);
            this.#wake();
          }
          return; // the runtime listener was closed
        } catch (error) {
          if (this.#isClosed || !this.#accepting(raw)) return;
          this.#queue.push({ error });
          this.#wake();
          backoff = Math.min(ACCEPT_BACKOFF_MAX_MS, backoff ? backoff * 2 : ACCEPT_BACKOFF_MIN_MS);
          await new Promise((resolve) => setTimeout(resolve, backoff));
        }
      }
    })().finally(() => this.#pumps.delete(raw));
    this.#pumps.set(raw, pump);
  }

  #accepting(raw: Listener<TlsConn>): boolean {
    return raw === this.#current || this.#retiring.has(raw);
  }

  /**
   * Closes a replaced runtime listener after a grace period; resolves once it is closed. Until
   * then the kernel still hands it some new connections (`SO_REUSEPORT` balances between the two),
   * which get the old certificate; closing it at once would reset those waiting in its queue.
   * Measured with 4 clients dialing in a loop over 40 reloads: Bun refused 92 connections when
   * closing at once and 6 to 38 with 200 ms of grace; Deno (`--unstable-net`) reset 1 to 5 of ~3,800.
   */
  #retire(old: Listener<TlsConn>): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const retire = () => {
      clearTimeout(timer);
      this.#retiring.delete(old);
      old.close();
      // Deno frees the socket only once the pending accept has been cancelled: until its accept
      // loop ends, the kernel may still queue (and then reset) connections on it.
      void (this.#pumps.get(old) ?? Promise.resolve()).then(() => resolve());
    };
    const timer = setTimeout(retire, RETIRE_GRACE_MS);
    this.#retiring.set(old, retire);
    return promise;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Incoming<TlsConn>> {
    while (true) {
      const next = this.#queue.shift();
      if (next && "error" in next) throw next.error;
      if (next) {
        yield new DeadlineIncoming(next, this.#options.handshakeTimeoutMs);
        continue;
      }
      if (this.#failure) throw this.#failure.error;
      if (this.#isClosed) return;
      this.#waiter = Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  reload(): Promise<CertificateSummary> {
    const next = this.#reloading.then(() => this.#reload());
    this.#reloading = next.catch(() => {});
    return next;
  }

  async #reload(): Promise<CertificateSummary> {
    try {
      if (this.#isClosed) throw new ServerClosedError("Cannot reload the TLS certificate: the listener is closed");
      if (!this.#options.reloadable) return this.#certificate!; // PEM strings: always set
      const pair = await this.#options.load();
      await this.#swap(pair);
      this.#certificate = pair.summary;
      this.#report({ ok: true, certificate: pair.summary });
      return pair.summary;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      this.#report({ ok: false, error: failure });
      throw failure;
    }
  }

  #report(event: TlsReloadEvent): void {
    try {
      this.#options.onReload?.(event);
    } catch { /* an observer's failure is not ours */ }
  }

  async #swap(pair: KeyPair): Promise<void> {
    const { hostname } = this.#options;
    const port = this.addr.port;
    let next: Listener<TlsConn>;
    try {
      next = await this.#options.bind(pair, hostname, port, true);
    } catch (error) {
      if (!(error instanceof NetError && error.code === "EADDRINUSE")) throw error;
      // SO_REUSEPORT is unavailable (Deno without --unstable-net), or the old listener was bound
      // without it (the stand-in used before a certificate source had a certificate): close the
      // old listener, wait for its accept loop to let go of the socket, and bind again (with
      // SO_REUSEPORT where the runtime honours it, so later swaps overlap). Connections are
      // refused meanwhile.
      const old = this.#current!;
      this.#current = undefined;
      old.close();
      await this.#pumps.get(old);
      try {
        next = await this.#options.bind(pair, hostname, port, true);
      } catch (rebindError) {
        this.#failure = { error: rebindError };
        this.#wake();
        throw rebindError;
      }
    }
    if (this.#isClosed) {
      next.close();
      throw new ServerClosedError("Cannot reload the TLS certificate: the listener is closed");
    }
    const old = this.#current;
    this.#adopt(next);
    if (old) await this.#retire(old);
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.onClose?.();
    this.#current?.close();
    for (const retire of [...this.#retiring.values()]) retire();
    for (const next of this.#queue.splice(0)) if (!("error" in next)) next.reject();
    this.#wake();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
