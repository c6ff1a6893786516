/**
 * Targets for `ts-tunnel demo`: an HTTP server and an echo server on loopback, built on
 * `node:http` and `node:net` so the demo needs nothing installed.
 * @module
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import net from "node:net";

/** The running demo targets. */
export interface DemoTargets extends AsyncDisposable {
  /** Port of the HTTP target on 127.0.0.1. */
  readonly httpPort: number;
  /** Port of the echo target on 127.0.0.1. */
  readonly echoPort: number;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Starts the demo's HTTP and echo targets on free loopback ports. */
export async function startDemoTargets(): Promise<DemoTargets> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  const httpServer = http.createServer((request, response) => {
    const body = `hello from the ts-tunnel demo target\nyou asked for ${request.method} ${request.url}\n`;
    response.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
    response.end(body);
  });
  httpServer.on("connection", track);
  const echoServer = net.createServer({ allowHalfOpen: true }, (socket) => {
    track(socket);
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  const httpPort = await listen(httpServer);
  const echoPort = await listen(echoServer);
  return {
    httpPort,
    echoPort,
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([
        new Promise((resolve) => httpServer.close(resolve)),
        new Promise((resolve) => echoServer.close(resolve)),
      ]);
    },
  };
}
