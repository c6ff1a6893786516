/**
 * Internal: the h2c upstream. One `node:http2` client session to the target carries every request;
 * a session that dies, errors or receives GOAWAY is replaced on the next request.
 * @module
 */
import http2 from "node:http2";
import { formatAddr, netAddr } from "../address.ts";
import type { NetAddr } from "../types.ts";
import { timeoutError, toNetError } from "./_errors.ts";
import type { AnyHeaders, HeaderMap, UpstreamHead } from "./_headers.ts";
import {
  handled,
  type Upstream,
  type UpstreamCall,
  type UpstreamResponse,
  type UpstreamSettings,
} from "./_upstream.ts";

/** HTTP/2 with prior knowledge to the target, over one shared session. */
export class H2cUpstream implements Upstream {
  readonly kind = "h2c" as const;
  readonly #settings: UpstreamSettings;
  readonly #remote: NetAddr;
  #live: http2.ClientHttp2Session | undefined;
  #connecting: Promise<http2.ClientHttp2Session> | undefined;
  readonly #all = new Set<http2.ClientHttp2Session>();

  constructor(settings: UpstreamSettings) {
    this.#settings = settings;
    this.#remote = netAddr(settings.target.hostname, settings.target.port);
  }

  /** The live session, connecting one when there is none. Exposed for extended CONNECT. */
  session(signal: AbortSignal): Promise<http2.ClientHttp2Session> {
    const live = this.#live;
    if (live && !live.closed && !live.destroyed) return Promise.resolve(live);
    this.#connecting ??= this.#connect().finally(() => this.#connecting = undefined);
    const { promise, resolve, reject } = Promise.withResolvers<http2.ClientHttp2Session>();
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    this.#connecting.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    return promise;
  }

  #connect(): Promise<http2.ClientHttp2Session> {
    const { target, connectTimeoutMs, streamWindowBytes, sessionWindowBytes } = this.#settings;
    const what = `Cannot open an h2c session to "${formatAddr(target)}"`;
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${formatAddr(target)}`, {
        settings: { initialWindowSize: streamWindowBytes, enablePush: false },
      });
      this.#all.add(session);
      const timer = setTimeout(() => {
        reject(timeoutError(what, connectTimeoutMs, "dial", this.#remote));
        session.destroy();
      }, connectTimeoutMs);
      const forget = () => {
        if (this.#live === session) this.#live = undefined;
      };
      session.on("error", (error) => {
        clearTimeout(timer);
        forget();
        reject(toNetError(error, what, "dial", this.#remote));
      });
      session.on("goaway", forget);
      session.on("close", () => {
        clearTimeout(timer);
        forget();
        this.#all.delete(session);
        reject(toNetError(new Error("session closed"), what, "dial", this.#remote));
      });
      // Ready once connected and the target's SETTINGS are in (extended CONNECT needs them).
      let pending = 2;
      const ready = () => {
        if (--pending > 0) return;
        clearTimeout(timer);
        if (sessionWindowBytes !== undefined) session.setLocalWindowSize(sessionWindowBytes);
        this.#live = session;
        resolve(session);
      };
      session.once("connect", ready);
      session.once("remoteSettings", ready);
    });
  }

  async open(head: UpstreamHead, signal: AbortSignal): Promise<UpstreamCall> {
    const what = `Cannot proxy "${head.label}" to "${formatAddr(this.#settings.target)}" over h2c`;
    const headers = {
      ...head.headers,
      ":method": head.method,
      ":path": head.path,
      ":scheme": "http",
      ":authority": head.authority,
    };
    let stream: http2.ClientHttp2Stream;
    for (let attempt = 0;; attempt++) {
      const session = await this.session(signal);
      try {
        stream = session.request(headers, { endStream: false, waitForTrailers: true });
        break;
      } catch (error) {
        // The session went away between our check and the request: retry once on a new one.
        if (this.#live === session) this.#live = undefined;
        if (attempt > 0) throw toNetError(error, what, "write", this.#remote);
      }
    }
    return h2cCall(stream, what, this.#remote, signal);
  }

  close(force: boolean): void {
    for (const session of this.#all) {
      if (force) session.destroy();
      else session.close();
    }
    this.#live = undefined;
  }
}

function h2cCall(stream: http2.ClientHttp2Stream, what: string, remote: NetAddr, signal: AbortSignal): UpstreamCall {
  let requestTrailers: HeaderMap | undefined;
  let responseTrailers: AnyHeaders | undefined;
  const { promise, resolve, reject } = Promise.withResolvers<UpstreamResponse>();
  const cancel = () => {
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL); // destroy() would send NO_ERROR
  };
  const onAbort = () => {
    reject(signal.reason);
    cancel();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  stream.on("wantTrailers", () => stream.sendTrailers(requestTrailers ?? {}));
  stream.on("trailers", (trailers) => responseTrailers = trailers);
  stream.on("error", (error) => reject(toNetError(error, what, "read", remote)));
  stream.once("response", (headers) => {
    resolve({ status: Number(headers[":status"]), headers, body: stream, trailers: () => responseTrailers });
  });
  stream.once("close", () => {
    signal.removeEventListener("abort", onAbort);
    const code = stream.rstCode ?? 0;
    const reason = code === http2.constants.NGHTTP2_REFUSED_STREAM
      ? "the upstream refused the stream"
      : `the upstream closed the stream (code ${code})`;
    reject(toNetError(Object.assign(new Error(reason), { code: "ERR_HTTP2_STREAM_ERROR" }), what, "read", remote));
  });
  return {
    body: stream,
    finish(trailers) {
      requestTrailers = trailers;
      stream.end();
    },
    abort: cancel,
    response: handled(promise),
  };
}
