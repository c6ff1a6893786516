/**
 * Internal: HTTP CONNECT tunnels (RFC 9110 §9.3.6 over HTTP/1.1, RFC 9113 §8.5 over HTTP/2) to
 * targets in the allow-list, moving raw TCP bytes both ways after a 200.
 * @module
 */
import type { IncomingMessage } from "node:http";
import type http2 from "node:http2";
import type { Duplex } from "node:stream";
import { parseDialAddr } from "../address.ts";
import { NetError } from "../errors.ts";
import type { DialAddr } from "../types.ts";
import type { PeerSocket, ProxyContext } from "./_context.ts";
import { bridge, dialTcp } from "./_dial.ts";
import { type GatewayReply, gatewayReply, rawReply } from "./_errors.ts";

/** The side of a tunnel that faces the client: an h2 stream or an HTTP/1.1 socket. */
interface ClientSide {
  /** The byte stream to bridge. */
  readonly duplex: Duplex;
  /** The client's socket (for its address). */
  readonly peer?: PeerSocket;
  /** Sends the success head. */
  accept(): void;
  /** Sends a complete failure reply and ends. */
  refuse(reply: GatewayReply): void;
}

/** Checks `authority` against the allow-list; resolves to the target or answers 400/403 and resolves to undefined. */
function allowedTarget(ctx: ProxyContext, authority: string, client: ClientSide): DialAddr | undefined {
  let target: DialAddr;
  try {
    target = parseDialAddr(authority);
  } catch {
    client.refuse({ status: 400, body: `400 Bad Request: CONNECT needs "host:port", got "${authority}"\n` });
    return undefined;
  }
  if (!ctx.options.connectAllow.allows(target.hostname, target.port)) {
    ctx.counters.rejected++;
    client.refuse({ status: 403, body: `403 Forbidden: CONNECT to "${authority}" is not in the allow-list\n` });
    return undefined;
  }
  return target;
}

async function tunnel(ctx: ProxyContext, authority: string, client: ClientSide, head?: Uint8Array): Promise<void> {
  ctx.counters.requests++;
  const end = ctx.begin(client.peer);
  client.duplex.on("error", () => {});
  try {
    const target = allowedTarget(ctx, authority, client);
    if (!target) return;
    const controller = new AbortController();
    const onGone = () => controller.abort(new Error("the client went away"));
    client.duplex.once("close", onGone);
    let upstream;
    try {
      upstream = await dialTcp(target, {
        timeoutMs: ctx.options.connectTimeoutMs,
        signal: controller.signal,
        what: `Cannot open a CONNECT tunnel to "${authority}"`,
      });
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof NetError) {
        ctx.fail(error);
        client.refuse(gatewayReply(error));
      }
      return;
    } finally {
      client.duplex.off("close", onGone);
    }
    ctx.counters.tunnels++;
    ctx.track(upstream);
    client.accept();
    if (head && head.byteLength > 0) upstream.write(head);
    await bridge(client.duplex, upstream, ctx.counters);
  } finally {
    end();
  }
}

/** Handles a CONNECT stream on an HTTP/2 session (no `:protocol`). */
export function proxyH2Connect(ctx: ProxyContext, req: http2.Http2ServerRequest): void {
  const stream = req.stream;
  const authority = String(req.headers[":authority"] ?? "");
  void tunnel(ctx, authority, {
    duplex: stream,
    peer: req.socket,
    accept: () => stream.respond({ ":status": 200 }),
    refuse: (reply) => {
      if (stream.destroyed || stream.headersSent) return;
      stream.respond({ ":status": reply.status, "content-type": "text/plain; charset=utf-8" });
      stream.end(reply.body);
    },
  });
}

/** Handles `CONNECT host:port HTTP/1.1` (the server's `connect` event). */
export function proxyH1Connect(ctx: ProxyContext, req: IncomingMessage, socket: Duplex, head: Uint8Array): void {
  void tunnel(ctx, req.url ?? "", {
    duplex: socket,
    peer: req.socket,
    accept: () => socket.write("HTTP/1.1 200 Connection Established\r\n\r\n"),
    refuse: (reply) => socket.end(rawReply(reply)),
  }, head);
}
