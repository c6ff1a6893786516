/**
 * Internal: one HTTP/3 request stream (RFC 9114 §4.1) proxied to the upstream: HEADERS, DATA and
 * trailers in; the upstream's response out as HEADERS, DATA and trailers. Bodies stream both ways
 * with backpressure (a DATA payload goes to the upstream before the next is read).
 * @module
 */
import { gatewayReply } from "../http2/_errors.ts";
import { type HeaderMap, responseHeaders, trailerFields } from "../http2/_headers.ts";
import type { UpstreamCall, UpstreamResponse } from "../http2/_upstream.ts";
import type { Conn } from "../types.ts";
import {
  armDeadline,
  exchangeError,
  headerPairs,
  type Http3Context,
  untilAborted,
  upstreamHead,
  what,
  writeNode,
} from "./_context.ts";
import {
  dataFrame,
  lengthMismatch,
  refuse,
  reply,
  type RequestStreamOwner,
  unexpected,
  type Writer,
} from "./_replies.ts";
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import { FrameReader } from "./frame_reader.ts";
import { encodeFrame, FrameType } from "./frames.ts";
import { decodeFieldSection, encodeFieldSection } from "./qpack.ts";
import { buildResponseFields, parseRequestHead, parseTrailers, type RequestHead } from "./request.ts";

export type { RequestStreamOwner };

/** Writing the request body to the upstream failed: an upstream failure, not the client's. */
class UpstreamBodyError extends Error {
  constructor(cause: unknown) {
    super("the upstream stopped taking the request body", { cause });
    this.name = "UpstreamBodyError";
  }
}

/** The client side failed (a malformed body, a reset, STOP_SENDING): no upstream error to report. */
class ClientFailure extends Error {
  constructor(cause: unknown) {
    super("the client side of the request failed", { cause });
    this.name = "ClientFailure";
  }
}

/** Proxies one request stream. Never throws: failures become a status, a stream reset or a connection error. */
export async function serveRequestStream(ctx: Http3Context, owner: RequestStreamOwner, stream: Conn): Promise<void> {
  const { maxFieldSectionSize } = ctx.options;
  const reader = new FrameReader(stream.readable, { maxFramePayload: maxFieldSectionSize });
  const writer = stream.writable.getWriter();
  writer.closed.catch(() => {});
  let request: RequestHead;
  try {
    const first = await reader.read();
    if (first === undefined) {
      throw new Http3Error(
        Http3ErrorCode.H3_REQUEST_INCOMPLETE,
        "Cannot accept request: the stream ended before HEADERS",
      );
    }
    if (first.kind !== "frame" || first.type !== FrameType.HEADERS) throw unexpected(first, "before HEADERS");
    request = parseRequestHead(decodeFieldSection(first.payload, { maxFieldSectionSize }));
    if (request.method === "CONNECT") {
      await reply(writer, 501, "501 Not Implemented: this HTTP/3 proxy does not tunnel CONNECT\n");
      await reader.cancel().catch(() => {});
      return;
    }
  } catch (error) {
    await refuse(owner, stream, reader, writer, error, false);
    return;
  }
  ctx.counters.requests++;
  ctx.counters.activeRequests++;
  try {
    await exchange(ctx, owner, stream, reader, writer, request);
  } finally {
    ctx.counters.activeRequests--;
  }
}

async function exchange(
  ctx: Http3Context,
  owner: RequestStreamOwner,
  stream: Conn,
  reader: FrameReader,
  writer: Writer,
  request: RequestHead,
): Promise<void> {
  ctx.options.onRequest?.(owner.remoteAddr);
  const head = upstreamHead(ctx, { ...request, path: request.path ?? "/" }, owner.remoteAddr);
  const text = what(ctx, head, request.method);
  const controller = new AbortController();
  const progress = { responded: false, bodyDone: false };
  let call: UpstreamCall | undefined;
  let disarm = () => {};
  const send = async (bytes: Uint8Array) => {
    try {
      await writer.write(bytes);
    } catch (error) {
      throw new ClientFailure(error);
    }
  };
  try {
    call = await ctx.upstream.open(head, controller.signal);
    const sending = pumpBody(ctx, reader, call, request.contentLength).then(() => {
      progress.bodyDone = true;
      disarm = armDeadline(ctx, text, controller);
    });
    sending.catch((error) => {
      controller.abort(
        error instanceof UpstreamBodyError ? exchangeError(error.cause, text) : new ClientFailure(error),
      );
    });
    const response = await untilAborted(call.response, controller.signal);
    disarm();
    await relay(ctx, send, response, controller.signal, progress);
    await writer.close();
    if (!progress.bodyDone) await reader.cancel().catch(() => {}); // the response is complete: STOP_SENDING
  } catch (error) {
    disarm();
    call?.abort();
    if (error instanceof ClientFailure) {
      await refuse(owner, stream, reader, writer, error.cause, progress.responded);
      return;
    }
    const failure = exchangeError(error, text);
    ctx.counters.upstreamErrors++;
    ctx.fail(failure);
    if (progress.responded) return stream.close(); // too late for a status: cut the response off
    const { status, body } = gatewayReply(failure);
    await reply(writer, status, body).catch(() => {});
    await reader.cancel().catch(() => {});
  }
}

/** Sends the request body (and trailers) to the upstream; rejects with an Http3Error or the stream's error. */
async function pumpBody(
  ctx: Http3Context,
  reader: FrameReader,
  call: UpstreamCall,
  contentLength: number | undefined,
): Promise<void> {
  let received = 0;
  let trailers: HeaderMap | undefined;
  for (let event = await reader.read(); event; event = await reader.read()) {
    if (trailers !== undefined) throw unexpected(event, "after the trailers");
    if (event.kind === "data") {
      const n = event.data.byteLength;
      if (n === 0) continue;
      received += n;
      if (contentLength !== undefined && received > contentLength) throw lengthMismatch(contentLength, received);
      ctx.counters.bytesIn += n;
      await writeNode(call.body, event.data).catch((error) => {
        throw new UpstreamBodyError(error);
      });
    } else if (event.kind === "frame" && event.type === FrameType.HEADERS) {
      const fields = parseTrailers(
        decodeFieldSection(event.payload, { maxFieldSectionSize: ctx.options.maxFieldSectionSize }),
      );
      trailers = {};
      for (const [name, value] of fields) {
        const previous = trailers[name];
        trailers[name] = previous === undefined ? value : [...[previous].flat(), value];
      }
    } else {
      throw unexpected(event, "in a request body");
    }
  }
  if (contentLength !== undefined && received !== contentLength) throw lengthMismatch(contentLength, received);
  call.finish(trailerFields(trailers));
}

async function relay(
  ctx: Http3Context,
  send: (bytes: Uint8Array) => Promise<void>,
  response: UpstreamResponse,
  signal: AbortSignal,
  progress: { responded: boolean },
): Promise<void> {
  const fields = buildResponseFields(response.status, headerPairs(responseHeaders(response.headers, undefined)));
  await send(encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)));
  progress.responded = true;
  const { body } = response;
  const onAbort = () => body.destroy(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      ctx.counters.bytesOut += chunk.byteLength;
      await send(dataFrame(chunk));
    }
  } catch (error) {
    throw signal.aborted ? signal.reason : error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  const trailers = trailerFields(response.trailers());
  if (trailers) {
    const pairs = headerPairs(trailers).map(([name, value]) => ({ name, value }));
    await send(encodeFrame(FrameType.HEADERS, encodeFieldSection(pairs)));
  }
}
