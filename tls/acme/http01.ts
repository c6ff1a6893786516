/**
 * HTTP-01 challenges: {@linkcode HttpChallengeResponder} keeps the pending tokens and answers
 * `GET /.well-known/acme-challenge/<token>`, either from an existing HTTP listener through
 * {@linkcode HttpChallengeResponder.handle}, or from its own `node:http` server
 * ({@linkcode HttpChallengeResponder.listen}).
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";

/** The path prefix of HTTP-01 challenge requests. */
export const HTTP_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
/** Default address of the HTTP-01 server: every interface. */
export const DEFAULT_HTTP_CHALLENGE_HOSTNAME = "0.0.0.0";
/** Default port of the HTTP-01 server; CAs validate on port 80. */
export const DEFAULT_HTTP_CHALLENGE_PORT = 80;

/** Where the HTTP-01 server listens. */
export interface HttpChallengeListenOptions {
  /** The address to bind. @default {"0.0.0.0"} */
  hostname?: string;
  /** The port to bind (0 picks a free one). @default {80} */
  port?: number;
}

/** A running HTTP-01 server. */
export interface HttpChallengeServer extends AsyncDisposable {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** Stops listening and closes open connections; idempotent. */
  close(): Promise<void>;
}

/**
 * The HTTP-01 tokens being validated, and the answers to the CA's requests for them.
 *
 * @example Answer challenges from an existing server
 * ```ts ignore
 * import { HttpChallengeResponder } from "@ts-tunnel/tunnel/tls";
 * const responder = new HttpChallengeResponder();
 * // in the request handler of a server on port 80:
 * const answer = responder.handle(new URL(request.url).pathname);
 * if (answer !== undefined) return new Response(answer, { headers: { "content-type": "text/plain" } });
 * ```
 */
export class HttpChallengeResponder {
  readonly #tokens = new Map<string, string>();

  /** Publishes the key authorization for `token`. */
  set(token: string, keyAuthorization: string): void {
    this.#tokens.set(token, keyAuthorization);
  }

  /** Withdraws `token`. */
  delete(token: string): void {
    this.#tokens.delete(token);
  }

  /** How many tokens are published. */
  get size(): number {
    return this.#tokens.size;
  }

  /**
   * The body to answer a request for `path` with, or `undefined` if `path` is not a pending
   * challenge (answer 404, or handle the request as usual).
   *
   * @param path The request path, such as `/.well-known/acme-challenge/abc`; a query is ignored.
   * @returns The key authorization, or `undefined`.
   */
  handle(path: string): string | undefined {
    const clean = path.split("?")[0];
    if (!clean.startsWith(HTTP_CHALLENGE_PREFIX)) return undefined;
    return this.#tokens.get(clean.slice(HTTP_CHALLENGE_PREFIX.length));
  }

  /**
   * Starts a `node:http` server that answers challenge requests and 404s everything else.
   *
   * @param options Address and port.
   * @returns The running server.
   * @throws {Error} If the address cannot be bound (`EADDRINUSE`, `EACCES` on port 80 without privileges).
   */
  async listen(options: HttpChallengeListenOptions = {}): Promise<HttpChallengeServer> {
    const { hostname = DEFAULT_HTTP_CHALLENGE_HOSTNAME, port = DEFAULT_HTTP_CHALLENGE_PORT } = options;
    const { createServer } = await import("node:http");
    const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const answer = request.method === "GET" || request.method === "HEAD"
        ? this.handle(request.url ?? "/")
        : undefined;
      response.statusCode = answer === undefined ? 404 : 200;
      response.setHeader("content-type", "text/plain");
      response.setHeader("connection", "close");
      response.end(answer ?? "not found\n");
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    const bound = typeof address === "object" && address ? address.port : port;
    let closed: Promise<void> | undefined;
    const close = () =>
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    return { hostname, port: bound, close, [Symbol.asyncDispose]: close };
  }
}
