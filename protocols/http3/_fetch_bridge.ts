/**
 * Internal: the HTTP/3 proxy over a runtime's own HTTP/3 server (Bun's `Bun.serve({ http3: true })`):
 * each `Request` goes to the same upstream layer as our own framing uses, and the upstream's answer
 * comes back as a streaming `Response`. Bun's `Request`/`Response` carry no trailers, so trailers
 * are dropped in both directions on Bun.
 * @module
 */
import type { Readable } from "node:stream";
import { gatewayReply } from "../http2/_errors.ts";
import { responseHeaders } from "../http2/_headers.ts";
import type { UpstreamCall } from "../http2/_upstream.ts";
import type { NetAddr } from "../types.ts";
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

/** Answers one request by proxying it to the upstream. Never rejects: failures become 502/504. */
export async function proxyFetch(
  ctx: Http3Context,
  request: Request,
  remoteAddr: NetAddr | undefined,
): Promise<Response> {
  ctx.counters.requests++;
  ctx.counters.activeRequests++;
  if (remoteAddr) ctx.options.onRequest?.(remoteAddr);
  const url = new URL(request.url);
  if (request.method === "CONNECT") {
    ctx.counters.activeRequests--;
    return text(501, "501 Not Implemented: this HTTP/3 proxy does not tunnel CONNECT\n");
  }
  const head = upstreamHead(ctx, {
    method: request.method,
    path: url.pathname + url.search,
    authority: request.headers.get("host") ?? url.host,
    headers: request.headers as unknown as Iterable<[string, string]>,
  }, remoteAddr);
  const label = what(ctx, head, request.method);
  const controller = new AbortController();
  const onClientGone = () => controller.abort(new Error("the client went away"));
  request.signal.addEventListener("abort", onClientGone, { once: true });
  let call: UpstreamCall | undefined;
  let disarm = () => {};
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    disarm();
    request.signal.removeEventListener("abort", onClientGone);
    ctx.counters.activeRequests--;
  };
  try {
    call = await ctx.upstream.open(head, controller.signal);
    const opened = call;
    const sending = sendBody(ctx, request, opened).then(() => disarm = armDeadline(ctx, label, controller));
    sending.catch((error) => controller.abort(error));
    const response = await untilAborted(opened.response, controller.signal);
    disarm();
    const headers = new Headers();
    for (const [name, value] of headerPairs(responseHeaders(response.headers, undefined))) headers.append(name, value);
    const bodyless = request.method === "HEAD" || response.status === 204 || response.status === 304;
    if (bodyless) {
      response.body.resume();
      finish();
      return new Response(null, { status: response.status, headers });
    }
    return new Response(webBody(ctx, response.body, () => finish(), () => opened.abort()), {
      status: response.status,
      headers,
    });
  } catch (error) {
    call?.abort();
    finish();
    const failure = exchangeError(error, label);
    ctx.counters.upstreamErrors++;
    ctx.fail(failure);
    const reply = gatewayReply(failure);
    return text(reply.status, reply.body);
  }
}

async function sendBody(ctx: Http3Context, request: Request, call: UpstreamCall): Promise<void> {
  if (request.body) {
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
      ctx.counters.bytesIn += chunk.byteLength;
      await writeNode(call.body, chunk);
    }
  }
  call.finish(undefined);
}

/** The upstream's body as a web stream, one chunk per pull (backpressure from the client). */
function webBody(
  ctx: Http3Context,
  body: Readable,
  onEnd: () => void,
  onCancel: () => void,
): ReadableStream<Uint8Array> {
  const chunks = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await chunks.next();
        if (done) {
          onEnd();
          controller.close();
          return;
        }
        ctx.counters.bytesOut += value.byteLength;
        controller.enqueue(value instanceof Uint8Array ? value : new TextEncoder().encode(String(value)));
      } catch (error) {
        onEnd();
        controller.error(error); // the response is cut off
      }
    },
    cancel() {
      onCancel();
      onEnd();
      body.destroy();
    },
  }, { highWaterMark: 0 });
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}
