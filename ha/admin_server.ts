/**
 * The admin HTTP server: `/metrics` (Prometheus text), `/health` (JSON with each check),
 * `/livez`, `/readyz`, `/status` (JSON) and `/circuit` (JSON). Built on `node:http`, which both
 * runtimes provide. Bind it to loopback or a private interface: it has no authentication.
 * @module
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { HealthRegistry } from "./health.ts";

/** Where `/metrics` comes from. */
export interface MetricsText {
  /** The exposition format's content type. */
  readonly contentType: string;
  /** The current exposition text. */
  text(): Promise<string>;
}

/** Options for {@linkcode startAdminServer}. */
export interface AdminServerOptions {
  /** Address to bind. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port to bind; 0 picks one. */
  port: number;
  /** The health checks behind `/health` and `/readyz`. */
  health: HealthRegistry;
  /** The metrics behind `/metrics`; without them `/metrics` answers 404. */
  metrics?: MetricsText;
  /** The JSON behind `/status`. */
  status: () => unknown;
  /** The JSON behind `/circuit`. */
  circuits: () => unknown;
}

/** A running admin server. */
export interface AdminServer extends AsyncDisposable {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** Stops the server and closes its connections. */
  close(): Promise<void>;
}

function json(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + "\n";
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  response.end(text);
}

function plain(response: http.ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  response.end(text);
}

/**
 * Starts the admin server.
 *
 * @param options Address, health, metrics and status sources.
 * @returns The running server.
 * @throws {Error} If the address cannot be bound (the error carries the runtime's `code`, e.g. EADDRINUSE).
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { hostname = "127.0.0.1", port, health, metrics, status, circuits } = options;
  const server = http.createServer((request, response) => {
    void route(request, response).catch((error) => {
      if (!response.headersSent) plain(response, 500, `internal error: ${(error as Error).message}\n`);
      else response.destroy();
    });
  });
  async function route(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const path = new URL(request.url ?? "/", "http://admin").pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.setHeader("allow", "GET, HEAD");
      return plain(response, 405, "method not allowed\n");
    }
    switch (path) {
      case "/metrics":
        if (!metrics) return plain(response, 404, "metrics are off\n");
        response.writeHead(200, { "content-type": metrics.contentType });
        return void response.end(await metrics.text());
      case "/health": {
        const report = await health.run();
        return json(response, report.status === "fail" ? 503 : 200, report);
      }
      case "/livez":
        return plain(response, 200, "ok\n");
      case "/readyz": {
        const report = await health.run({ readinessOnly: true });
        const failed = report.checks.filter((c) => c.status === "fail").map((c) =>
          `${c.name}: ${c.detail ?? "failed"}`
        );
        return report.status === "fail"
          ? plain(response, 503, `not ready\n${failed.join("\n")}\n`)
          : plain(response, 200, "ready\n");
      }
      case "/status":
        return json(response, 200, status());
      case "/circuit":
        return json(response, 200, circuits());
      default:
        return plain(response, 404, "not found: try /metrics, /health, /livez, /readyz, /status or /circuit\n");
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  return { hostname: address.address, port: address.port, close, [Symbol.asyncDispose]: close };
}
