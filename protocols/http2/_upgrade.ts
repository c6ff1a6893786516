/**
 * Internal: WebSocket (and other) upgrades. An HTTP/1.1 `Upgrade` over TLS, or an RFC 8441 extended
 * CONNECT (`:protocol`) over HTTP/2, becomes an HTTP/1.1 Upgrade to an `http1` target, or an
 * extended CONNECT on the `h2c` target's session; then raw bytes move both ways.
 * @module
 */
import { type IncomingMessage, STATUS_CODES } from "node:http";
import http2 from "node:http2";
import type { Duplex } from "node:stream";
import { formatAddr, netAddr } from "../address.ts";
import { NetError } from "../errors.ts";
import type { ProxyContext } from "./_context.ts";
import { bridge } from "./_dial.ts";
import { type GatewayReply, gatewayReply, rawReply, timeoutError, toNetError } from "./_errors.ts";
import { headFor } from "./_exchange.ts";
import { type AnyHeaders, formatRequestHead, type HeaderMap, responseHeaders } from "./_headers.ts";
import { requestUpgrade, webSocketAccept, webSocketKey } from "./_h1_upgrade.ts";
import { H2cUpstream } from "./_upstream_h2c.ts";

/** The upstream end of an upgrade. */
interface UpstreamTunnel {
  readonly duplex: Duplex;
  /** True for 101 (HTTP/1.1) or 2xx (extended CONNECT). */
  readonly ok: boolean;
  readonly status: number;
  readonly headers: AnyHeaders;
  /** The raw response head (HTTP/1.1 targets only). */
  readonly rawHead: Uint8Array | undefined;
  /** Bytes that followed the head. */
  readonly rest: Uint8Array;
}

/** What the client asked to upgrade to. */
interface UpgradeAsk {
  readonly protocol: string;
  readonly req: IncomingMessage | http2.Http2ServerRequest;
  readonly signal: AbortSignal;
}

async function openUpstream(ctx: ProxyContext, ask: UpgradeAsk): Promise<UpstreamTunnel> {
  const head = headFor(ctx, ask.req);
  const { target, connectTimeoutMs, upstreamTimeoutMs } = ctx.options;
  const what = `Cannot upgrade "${head.label}" to ${ask.protocol} at "${formatAddr(target)}"`;
  const websocket = ask.protocol.toLowerCase() === "websocket";
  const headers: HeaderMap = { ...head.headers };
  delete headers["sec-websocket-key"];
  if (ctx.upstream instanceof H2cUpstream) {
    delete headers["sec-websocket-version"];
    return await openH2c(ctx.upstream, ask, { ...head, headers }, what, upstreamTimeoutMs);
  }
  // An HTTP/1.1 client's key goes through (its 101 is relayed as is); an RFC 8441 client sends none.
  const clientKey = ask.req.headers["sec-websocket-key"];
  const key = websocket ? (typeof clientKey === "string" ? clientKey : webSocketKey()) : undefined;
  if (key) {
    headers["sec-websocket-key"] = key;
    headers["sec-websocket-version"] ??= "13";
  }
  // RFC 8441 maps CONNECT + :protocol to an HTTP/1.1 GET with Upgrade.
  const requestText = formatRequestHead(head.method === "CONNECT" ? "GET" : head.method, head.path, {
    host: head.authority,
    ...headers,
    connection: "Upgrade",
    upgrade: ask.protocol,
  });
  const reply = await requestUpgrade(target, requestText, {
    connectTimeoutMs,
    responseTimeoutMs: upstreamTimeoutMs,
    signal: ask.signal,
    what,
  });
  if (key && reply.status === 101 && reply.headers["sec-websocket-accept"] !== webSocketAccept(key)) {
    reply.socket.destroy();
    throw new NetError("EUNKNOWN", `${what}: the target answered with a wrong Sec-WebSocket-Accept`, {
      op: "handshake",
      protocol: "http2",
      remoteAddr: netAddr(target.hostname, target.port),
    });
  }
  return {
    duplex: reply.socket,
    ok: reply.status === 101,
    status: reply.status,
    headers: reply.headers,
    rawHead: reply.head,
    rest: reply.rest,
  };
}

async function openH2c(
  upstream: H2cUpstream,
  ask: UpgradeAsk,
  head: { path: string; authority: string; headers: HeaderMap },
  what: string,
  timeoutMs: number,
): Promise<UpstreamTunnel> {
  const session = await upstream.session(ask.signal);
  if (!session.remoteSettings.enableConnectProtocol) {
    throw new NetError("EUNKNOWN", `${what}: the h2c target does not allow extended CONNECT (RFC 8441)`, {
      op: "handshake",
      protocol: "http2",
    });
  }
  const websocket = ask.protocol.toLowerCase() === "websocket";
  const stream = session.request({
    ...head.headers,
    ...(websocket ? { "sec-websocket-version": "13" } : {}),
    ":method": "CONNECT",
    ":protocol": ask.protocol,
    ":scheme": "http",
    ":path": head.path,
    ":authority": head.authority,
  }, { endStream: false });
  stream.on("error", () => {});
  return await new Promise<UpstreamTunnel>((resolve, reject) => {
    const fail = (error: unknown) => {
      clearTimeout(timer);
      ask.signal.removeEventListener("abort", onAbort);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(error);
    };
    const onAbort = () => fail(ask.signal.reason);
    const timer = timeoutMs > 0 ? setTimeout(() => fail(timeoutError(what, timeoutMs, "read")), timeoutMs) : undefined;
    ask.signal.addEventListener("abort", onAbort, { once: true });
    stream.once("response", (h) => {
      clearTimeout(timer);
      ask.signal.removeEventListener("abort", onAbort);
      const status = Number(h[":status"]);
      resolve({
        duplex: stream,
        ok: status >= 200 && status < 300,
        status,
        headers: h,
        rawHead: undefined,
        rest: new Uint8Array(),
      });
    });
    stream.once("error", (error) => fail(toNetError(error, what, "handshake")));
    stream.once("close", () => fail(toNetError(new Error("closed"), what, "handshake")));
  });
}

/** The client end of an upgrade. */
interface ClientEnd {
  readonly duplex: Duplex;
  /** Keep piping after a non-success answer (an HTTP/1.1 client talking to an HTTP/1.1 target). */
  readonly relayAll: boolean;
  /** Answers the upstream's reply (success or not). */
  answer(tunnel: UpstreamTunnel): void;
  refuse(reply: GatewayReply): void;
}

async function upgrade(ctx: ProxyContext, ask: Omit<UpgradeAsk, "signal">, client: ClientEnd, head?: Uint8Array) {
  ctx.counters.requests++;
  const end = ctx.begin(ask.req.socket);
  const controller = new AbortController();
  const onGone = () => controller.abort(new Error("the client went away"));
  client.duplex.on("error", () => {});
  client.duplex.once("close", onGone);
  try {
    const tunnel = await openUpstream(ctx, { ...ask, signal: controller.signal });
    client.duplex.off("close", onGone);
    tunnel.duplex.on("error", () => {});
    ctx.track(tunnel.duplex);
    client.answer(tunnel);
    if (!tunnel.ok && !(client.relayAll && tunnel.rawHead)) {
      tunnel.duplex.destroy();
      return;
    }
    if (tunnel.ok) ctx.counters.upgrades++;
    if (tunnel.rest.byteLength > 0) client.duplex.write(tunnel.rest);
    if (head && head.byteLength > 0) tunnel.duplex.write(head);
    await bridge(client.duplex, tunnel.duplex, ctx.counters);
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error instanceof TypeError) return client.refuse({ status: 400, body: `400 Bad Request: ${error.message}\n` });
    const failure = error instanceof NetError ? error : toNetError(error, "Cannot upgrade", "handshake");
    ctx.fail(failure);
    client.refuse(gatewayReply(failure));
  } finally {
    client.duplex.off("close", onGone);
    end();
  }
}

/** Forwarded response fields of an upgrade answer (no hop-by-hop ones, no `Sec-WebSocket-Accept`, no length). */
function answerFields(headers: AnyHeaders): HeaderMap {
  const out = responseHeaders(headers, undefined);
  delete out["sec-websocket-accept"];
  delete out["content-length"];
  return out;
}

/** Handles an HTTP/1.1 `Upgrade` request (the server's `upgrade` event). */
export function proxyH1Upgrade(ctx: ProxyContext, req: IncomingMessage, socket: Duplex, head: Uint8Array): void {
  const protocol = String(req.headers.upgrade ?? "");
  const key = req.headers["sec-websocket-key"];
  void upgrade(ctx, { protocol, req }, {
    duplex: socket,
    relayAll: true,
    answer(tunnel) {
      if (tunnel.rawHead) return void socket.write(tunnel.rawHead);
      // An h2c target answered an extended CONNECT: speak HTTP/1.1 to the client.
      if (!tunnel.ok) {
        const reason = STATUS_CODES[tunnel.status] ?? "Upstream Refused";
        return void socket.end(`HTTP/1.1 ${tunnel.status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      }
      let text = `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${protocol}\r\n`;
      if (typeof key === "string") text += `sec-websocket-accept: ${webSocketAccept(key)}\r\n`;
      for (const [name, value] of Object.entries(answerFields(tunnel.headers))) {
        for (const one of [value].flat()) text += `${name}: ${one}\r\n`;
      }
      socket.write(`${text}\r\n`);
    },
    refuse: (reply) => socket.end(rawReply(reply)),
  }, head);
}

/** Handles an RFC 8441 extended CONNECT stream (`:method CONNECT` with `:protocol`). */
export function proxyExtendedConnect(ctx: ProxyContext, req: http2.Http2ServerRequest): void {
  const stream = req.stream;
  const protocol = String(req.headers[":protocol"]);
  void upgrade(ctx, { protocol, req }, {
    duplex: stream,
    relayAll: false,
    answer(tunnel) {
      if (stream.destroyed) return;
      // A 2xx (or 1xx) that is not an upgrade would read as success to an extended CONNECT client.
      const status = tunnel.ok ? 200 : tunnel.status >= 300 ? tunnel.status : 502;
      stream.respond({ ...answerFields(tunnel.headers), ":status": status }, { endStream: !tunnel.ok });
    },
    refuse(reply) {
      if (stream.destroyed || stream.headersSent) return;
      stream.respond({ ":status": reply.status, "content-type": "text/plain; charset=utf-8" });
      stream.end(reply.body);
    },
  });
}
