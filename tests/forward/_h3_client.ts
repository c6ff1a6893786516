/**
 * Test helper: HTTP/3 requests with gtlsclient (ngtcp2-client from Debian, on nghttp3), and a
 * node:http upstream that answers each request with its body's size and SHA-256.
 * @module
 */
import { createHash } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { type H3Response, runGtlsclient } from "../_util/gtlsclient.ts";

export { type H3Response, noGtlsclient } from "../_util/gtlsclient.ts";

/**
 * Sends `paths` to `https://localhost:PORT` over HTTP/3 on one connection (`-m POST -d bodyFile`
 * when a body is given) and resolves to gtlsclient's exit code and each stream's response.
 */
export async function h3Requests(
  port: number,
  paths: string[],
  bodyFile?: string,
): Promise<{ code: number; responses: H3Response[] }> {
  const args = [...(bodyFile ? ["-m", "POST", "-d", bodyFile] : []), "-n", String(paths.length)];
  const { code, streams } = await runGtlsclient(port, args, paths.map((p) => `https://localhost:${port}${p}`));
  return { code, responses: [...streams.values()] };
}

/** SHA-256 of `bytes`, hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * A node:http upstream on 127.0.0.1: answers every request with `x-echo: <url> <size> <sha256>`
 * of its body, after `delayMs` (0 by default) once the body has arrived.
 */
export async function startSizingUpstream(options: { delayMs?: number } = {}) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    const hash = createHash("sha256");
    let size = 0;
    req.on("data", (chunk: Uint8Array) => {
      size += chunk.byteLength;
      hash.update(chunk);
    });
    req.on("end", () => {
      const echo = `${req.url} ${size} ${hash.digest("hex")}`;
      seen.push(echo);
      setTimeout(() => {
        res.writeHead(200, { "content-type": "text/plain", "x-echo": echo });
        res.end(`ok ${size}\n`);
      }, options.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    seen,
    target: `127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
