/**
 * A fake vendor API for the DNS provider tests: a `node:http` server on 127.0.0.1:0 that
 * records every request and answers with what the test's handler returns.
 * @module
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

/** A request the fake received. */
export interface Recorded {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** What the handler answers. */
export interface Reply {
  status?: number;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  contentType?: string;
}

/** A running fake vendor. */
export interface FakeVendor extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  readonly requests: Recorded[];
  close(): Promise<void>;
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    req.on("data", (c: Uint8Array) => chunks.push(c));
    req.on("end", () => resolve(new TextDecoder().decode(Buffer.concat(chunks))));
    req.on("error", reject);
  });
}

/** Starts a fake vendor that answers each request with `handler(request)`. */
export async function fakeVendor(handler: (req: Recorded) => Reply | Promise<Reply>): Promise<FakeVendor> {
  const requests: Recorded[] = [];
  const server = createServer(async (req, res) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) headers[name] = String(value);
    const recorded = { method: req.method ?? "", url: req.url ?? "", headers, body: await read(req) };
    requests.push(recorded);
    let reply: Reply;
    try {
      reply = await handler(recorded);
    } catch (error) {
      reply = { status: 599, body: `fake vendor handler failed: ${error}` };
    }
    const text = reply.body === undefined
      ? ""
      : typeof reply.body === "string"
      ? reply.body
      : JSON.stringify(reply.body);
    res.writeHead(reply.status ?? 200, {
      "content-type": reply.contentType ?? (typeof reply.body === "string" ? "text/plain" : "application/json"),
      connection: "close",
    });
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  return { origin: `http://127.0.0.1:${port}`, requests, close, [Symbol.asyncDispose]: close };
}

/** The requests as `"METHOD /path?query"` lines, for comparing sequences. */
export function lines(requests: Recorded[]): string[] {
  return requests.map((r) => `${r.method} ${r.url}`);
}
