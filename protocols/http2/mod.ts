/**
 * The `http2` protocol: {@linkcode Http2Proxy}, a real HTTP reverse proxy on `node:http2` that runs
 * on Deno and Bun. Clients speak HTTP/2 or HTTP/1.1 over TLS (ALPN), or h2c with prior knowledge;
 * the target gets HTTP/1.1 (keep-alive pool) or h2c. Bodies stream both ways with backpressure,
 * trailers pass (gRPC over h2c works), hop-by-hop fields go and `X-Forwarded-*`/`Forwarded` come.
 * WebSocket upgrades (HTTP/1.1 `Upgrade` and RFC 8441 extended CONNECT) are bridged, and CONNECT
 * tunnels reach allow-listed targets only.
 *
 * @example Put h2 in front of an HTTP/1.1 app
 * ```ts ignore
 * import { readFile } from "node:fs/promises";
 * import { Http2Proxy } from "@ts-tunnel/tunnel/protocols/http2";
 * const cert = await readFile("fullchain.pem", "utf8");
 * const key = await readFile("key.pem", "utf8");
 * await using proxy = new Http2Proxy({ port: 8443, target: "127.0.0.1:8080", cert, key });
 * await proxy.listen();
 * ```
 * @module
 */
export * from "./proxy.ts";
export * from "./options.ts";
export * from "./connect_allow.ts";
export { NetError, type NetErrorCode, type NetErrorOptions, ServerClosedError } from "../errors.ts";
export type { NetAddr, ProtocolName } from "../types.ts";
