/**
 * Internal: proxies one HTTP request (HTTP/1.1 or HTTP/2, via the `node:http2` compatibility API)
 * to the upstream, streaming both bodies with backpressure and passing trailers on.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import http2 from "node:http2";
import type { Writable } from "node:stream";
import { NetError } from "../errors.ts";
import { formatAddr } from "../address.ts";
import type { ProxyContext } from "./_context.ts";
import { gatewayReply, timeoutError, toNetError } from "./_errors.ts";
import { requestHead, responseHeaders, trailerFields, type UpstreamHead } from "./_headers.ts";
import type { UpstreamCall, UpstreamResponse } from "./_upstream.ts";

/** A request from either protocol. */
export type AnyRequest = IncomingMessage | http2.Http2ServerRequest;
/** A response for either protocol. */
export type AnyResponse = ServerResponse | http2.Http2ServerResponse;

const CLIENT_GONE = "client-gone";

/** The upstream head for a client request. */
export function headFor(ctx: ProxyContext, req: AnyRequest): UpstreamHead {
  return requestHead({
    method: req.method ?? "GET",
    url: req.url ?? "/",
    headers: req.headers,
    clientIp: req.socket?.remoteAddress,
    proto: ctx.scheme,
    fallbackAuthority: formatAddr(ctx.options.target),
  });
}

/** Proxies `req` to the upstream and answers on `res`. Never throws; failures become 502/504 or a reset. */
export function proxyRequest(ctx: ProxyContext, req: AnyRequest, res: AnyResponse): void {
  ctx.counters.requests++;
  const end = ctx.begin(req.socket);
  res.once("close", end);
  req.on("error", () => {});
  res.on("error", () => {});
  exchange(ctx, req, res).catch(() => {});
}

async function exchange(ctx: ProxyContext, req: AnyRequest, res: AnyResponse): Promise<void> {
  const controller = new AbortController();
  const { signal } = controller;
  // Our own flag: the compatibility response reports `writableFinished` after a reset too.
  const progress = { ended: false };
  const onClientGone = () => {
    if (!progress.ended) controller.abort(CLIENT_GONE);
  };
  res.once("close", onClientGone);
  let call: UpstreamCall | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let head: UpstreamHead | undefined;
  try {
    head = headFor(ctx, req);
    call = await ctx.upstream.open(head, signal);
    const { upstreamTimeoutMs } = ctx.options;
    const startDeadline = () => {
      if (upstreamTimeoutMs > 0) {
        timer = setTimeout(() => {
          const what = `Cannot proxy "${head!.label}" to "${ctx.options.targetText}" over ${ctx.upstream.kind}`;
          controller.abort(timeoutError(what, upstreamTimeoutMs, "read"));
        }, upstreamTimeoutMs);
      }
    };
    sendBody(ctx, req, call, startDeadline);
    const response = await untilAborted(call.response, signal);
    clearTimeout(timer);
    await relayResponse(ctx, req, res, response, signal, progress);
  } catch (error) {
    clearTimeout(timer);
    call?.abort();
    req.unpipe();
    if (signal.reason === CLIENT_GONE) return;
    const what = `Cannot proxy "${head?.label ?? req.method}" to "${ctx.options.targetText}" over ${ctx.upstream.kind}`;
    const failure = error instanceof NetError ? error : toNetError(error, what, "read");
    ctx.fail(failure);
    replyError(ctx, req, res, failure);
  } finally {
    clearTimeout(timer);
    res.off("close", onClientGone);
  }
}

function sendBody(ctx: ProxyContext, req: AnyRequest, call: UpstreamCall, sent: () => void): void {
  const finish = () => {
    call.finish(trailerFields(req.trailers));
    sent();
  };
  // A request without a body may have ended while the upstream call was being opened.
  if (req.readableEnded) return finish();
  req.on("data", (chunk: Uint8Array) => ctx.counters.bytesIn += chunk.byteLength);
  req.once("end", finish);
  req.pipe(call.body, { end: false });
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function relayResponse(
  ctx: ProxyContext,
  req: AnyRequest,
  res: AnyResponse,
  response: UpstreamResponse,
  signal: AbortSignal,
  progress: { ended: boolean },
): Promise<void> {
  const headers = responseHeaders(response.headers, ctx.options.altSvc);
  if (ctx.closing && req.httpVersionMajor === 1) headers.connection = "close";
  (res as ServerResponse).writeHead(response.status, headers);
  const { body } = response;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (error === undefined) {
        const trailers = trailerFields(response.trailers());
        if (trailers) res.addTrailers(trailers);
        progress.ended = true;
        res.end();
        return resolve();
      }
      body.unpipe(res as unknown as Writable);
      body.destroy();
      reject(error);
    };
    const onAbort = () => settle(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    body.on("data", (chunk: Uint8Array) => ctx.counters.bytesOut += chunk.byteLength);
    body.once("end", () => settle());
    body.once("error", settle);
    body.once("close", () => {
      const early = Object.assign(new Error("the upstream closed the response before its end"), { code: "ECONNRESET" });
      settle(body.readableEnded ? undefined : early);
    });
    // A body without DATA can end (on Deno) between the response event and this point.
    if (body.readableEnded) return settle();
    body.pipe(res as unknown as Writable, { end: false });
  });
}

function replyError(ctx: ProxyContext, req: AnyRequest, res: AnyResponse, error: NetError): void {
  if (res.headersSent || res.destroyed) {
    // Too late for a status: reset the stream (h2) or the connection (h1) so the client sees a failure.
    const stream = (res as http2.Http2ServerResponse).stream as http2.ServerHttp2Stream | undefined;
    // destroy(error) sends RST_STREAM(INTERNAL_ERROR); close(code) lets queued data end the stream first.
    if (stream && !stream.destroyed) stream.destroy(error);
    else if (!stream) (res as ServerResponse).socket?.destroy();
    return;
  }
  const reply = gatewayReply(error);
  const h1 = req.httpVersionMajor === 1;
  (res as ServerResponse).writeHead(reply.status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(new TextEncoder().encode(reply.body).byteLength),
    ...(h1 && (ctx.closing || !req.readableEnded) ? { connection: "close" } : {}),
  });
  res.end(reply.body);
  if (!h1 && !req.readableEnded) {
    // RFC 9113 §8.1: a complete response may end the stream before the request body did.
    const stream = (req as http2.Http2ServerRequest).stream;
    res.once("finish", () => stream.destroyed || stream.close(http2.constants.NGHTTP2_NO_ERROR));
  }
}
