/**
 * Deno and Bun speak the same tunnel protocol: a server on one runtime, a client on the other
 * (spawned through the CLI), both ways, over TLS; and QUIC datagram heartbeats between the two QUIC stacks.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { TlsProtocol } from "../../../protocols/tls.ts";
import { TunnelClient } from "../../../protocols/tunnel/client.ts";
import { TunnelServer } from "../../../protocols/tunnel/server.ts";
import { testCerts } from "../../_util/certs.ts";
import { randomBytes, roundTrip, sameBytes, startEchoServer } from "../../_util/echo_server.ts";
import { runtimeName, test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";

const TOKEN = "cross-token-0123456789abcdef";
const ROOT = new URL("../../../", import.meta.url).pathname;
const other = runtimeName === "deno" ? "bun" : "deno";

/** Runs `cli.ts` on the other runtime; resolves to the child and its live stderr. */
function spawnCli(args: string[]): { child: ChildProcess; err: () => string } {
  const bin = `${ROOT}node_modules/.bin/${other}`;
  const argv = other === "deno" ? ["run", "-A", `${ROOT}cli.ts`, ...args] : [`${ROOT}cli.ts`, ...args];
  const child = spawn(bin, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (chunk: Uint8Array) => err += new TextDecoder().decode(chunk));
  return { child, err: () => err };
}

/** Runs the other runtime's CLI client against 127.0.0.1:`serverPort`, exposing 127.0.0.1:`localPort`. */
function spawnClientCli(serverPort: number, caFile: string, localPort: number, extra: string[] = []) {
  const target = ["-server", `127.0.0.1:${serverPort}`, "-server-name", "localhost", "-ca", caFile];
  return spawnCli(["client", ...target, ...extra, "-token", TOKEN, "-local", `127.0.0.1:${localPort}`]);
}

/** The public port the other runtime's client logged for its service. */
function exposedPort(err: () => string): Promise<number> {
  return waitFor(
    () => Number(/service exposed service=service port=(\d+)/.exec(err())?.[1]) || undefined,
    `the ${other} client's exposed line`,
    30_000,
  );
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  process.kill(child.pid!, "SIGTERM");
  await exited;
}

test(`cross-runtime: a ${other} server and a ${runtimeName} client move 64 MiB byte-exact over TLS`, async () => {
  const certs = await testCerts();
  await using echo = await startEchoServer();
  const { child, err } = spawnCli([
    "server",
    "-listen",
    "127.0.0.1:0",
    "-token",
    TOKEN,
    "-cert",
    certs.fullchainFile,
    "-key",
    certs.keyFile,
    "-port-range",
    "33000-33100",
    "-bind-host",
    "127.0.0.1",
  ]);
  try {
    const port = await waitFor(
      () => Number(/tunnel server listening addr=127\.0\.0\.1:(\d+)/.exec(err())?.[1]) || undefined,
      `the ${other} server's listening line`,
      30_000,
    );
    await using client = new TunnelClient({
      serverAddr: `127.0.0.1:${port}`,
      token: TOKEN,
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    }, {
      protocol: new TlsProtocol({
        client: { ca: certs.caPem, serverName: "localhost", alpnProtocols: ["ts-tunnel/1"] },
      }),
    });
    await client.start();
    const payload = randomBytes(64 * 1024 * 1024);
    assert.ok(sameBytes(await roundTrip(client.services()[0].remotePort!, payload), payload));
  } finally {
    await stop(child);
  }
}, { timeoutMs: 120_000 });

test(`cross-runtime: a ${runtimeName} server and a ${other} client move 64 MiB byte-exact over TLS`, async () => {
  const certs = await testCerts();
  await using echo = await startEchoServer();
  await using server = new TunnelServer({
    listenAddr: "127.0.0.1:0",
    authToken: TOKEN,
    portRange: "33200-33300",
    bindHost: "127.0.0.1",
  }, {
    protocol: new TlsProtocol({
      server: { certFile: certs.fullchainFile, keyFile: certs.keyFile, alpnProtocols: ["ts-tunnel/1"] },
    }),
  });
  await server.start();
  const { child, err } = spawnClientCli(server.addr!.port, certs.caFile, echo.port);
  try {
    const publicPort = await exposedPort(err);
    const payload = randomBytes(64 * 1024 * 1024, 7);
    assert.ok(sameBytes(await roundTrip(publicPort, payload), payload));
    assert.equal(server.clients()[0].transport, "tls");
  } finally {
    await stop(child);
  }
}, { timeoutMs: 120_000 });

test(
  `cross-runtime: a ${runtimeName} QUIC server and a ${other} client exchange heartbeats as QUIC datagrams`,
  async () => {
    const certs = await testCerts();
    await using echo = await startEchoServer();
    const { serverQuic } = await import("../../../protocols/tunnel/serve.ts");
    const { defaultRuntime } = await import("../../../protocols/runtime.ts");
    const paths: string[] = [];
    await using server = new TunnelServer({
      listenAddr: "127.0.0.1:0",
      transport: "quic",
      authToken: TOKEN,
      portRange: "33400-33500",
      bindHost: "127.0.0.1",
      heartbeatMs: 100,
    }, {
      protocol: new TlsProtocol({
        server: { certFile: certs.fullchainFile, keyFile: certs.keyFile, alpnProtocols: ["ts-tunnel/1"] },
      }),
      quic: serverQuic({ certFile: certs.fullchainFile, keyFile: certs.keyFile }, await defaultRuntime()),
      observer: { onClientConnected: (_id, _addr, info) => paths.push(`${info.transport} ${info.heartbeats}`) },
    });
    await server.start();
    const { child, err } = spawnClientCli(server.addr!.port, certs.caFile, echo.port, ["-transport", "quic"]);
    try {
      const publicPort = await exposedPort(err);
      await waitFor(() => (server.clients()[0]?.heartbeats?.pongsReceived ?? 0) >= 3, "3 datagram pongs", 30_000);
      const { heartbeats } = server.clients()[0];
      assert.deepEqual(paths, ["quic datagram"]);
      assert.equal(heartbeats!.path, "datagram");
      assert.ok(heartbeats!.pingsAnswered >= 1, `the ${other} client pinged by datagram too`);
      assert.equal(heartbeats!.garbage, 0);
      assert.match(err(), /connected to the tunnel server .*heartbeats=datagram/);
      const payload = randomBytes(1024 * 1024, 9);
      assert.ok(sameBytes(await roundTrip(publicPort, payload), payload));
    } finally {
      await stop(child);
    }
  },
  { timeoutMs: 120_000 },
);
