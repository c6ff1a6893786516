import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../../cli.ts";
import { parseTunnelConfigFile } from "../../../protocols/tunnel/config_file.ts";
import { captureIo } from "../../_util/admin.ts";
import { testCerts } from "../../_util/certs.ts";
import { randomBytes, roundTrip, sameBytes, startEchoServer } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";

const TOKEN = "cli-token-0123456789abcdef";

test("ts-tunnel server and client over TLS expose a local service; admin endpoints answer on both", async () => {
  await using echo = await startEchoServer();
  const certs = await testCerts();
  const stop = new AbortController();
  const serverIo = captureIo();
  const serverExit = main([
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
    "31000-31100",
    "-bind-host",
    "127.0.0.1",
    "-admin",
    "127.0.0.1:0",
  ], { io: serverIo, signal: stop.signal });
  const serverPort = await waitFor(
    () => Number(/tunnel server listening addr=127\.0\.0\.1:(\d+)/.exec(serverIo.err)?.[1]) || undefined,
    "the server's listening line",
  );
  const clientIo = captureIo();
  const clientExit = main([
    "client",
    "-server",
    `127.0.0.1:${serverPort}`,
    "-server-name",
    "localhost",
    "-ca",
    certs.caFile,
    "-token",
    TOKEN,
    "-local",
    `127.0.0.1:${echo.port}`,
    "-name",
    "echo",
    "-admin",
    "127.0.0.1:0",
  ], { io: clientIo, signal: stop.signal });
  try {
    const publicPort = await waitFor(
      () => Number(/service exposed service=echo port=(\d+)/.exec(clientIo.err)?.[1]) || undefined,
      "the client's exposed line",
    );
    assert.ok(publicPort >= 31000 && publicPort <= 31100);
    const payload = randomBytes(1024 * 1024);
    assert.ok(sameBytes(await roundTrip(publicPort, payload), payload));
    const adminOf = (io: { err: string }) => Number(/admin listening addr=127\.0\.0\.1:(\d+)/.exec(io.err)?.[1]);
    const status = await (await fetch(`http://127.0.0.1:${adminOf(serverIo)}/status`)).json();
    assert.equal(status.clients[0].clientId, "default");
    assert.equal(status.clients[0].services[0].port, publicPort);
    assert.equal(status.clients[0].services[0].bytesIn, payload.byteLength);
    const metrics = await (await fetch(`http://127.0.0.1:${adminOf(serverIo)}/metrics`)).text();
    assert.match(metrics, /^ts_tunnel_tunnel_clients_connected 1$/m);
    assert.match(metrics, /^ts_tunnel_tunnel_sessions_pacing 0$/m);
    assert.match(
      metrics,
      new RegExp(
        `^ts_tunnel_bytes_received_total\\{listener="127\\.0\\.0\\.1:${publicPort}",protocol="tunnel"\\} ${payload.byteLength}$`,
        "m",
      ),
    );
    const clientStatus = (await (await fetch(`http://127.0.0.1:${adminOf(clientIo)}/status`)).json()).client;
    assert.equal(clientStatus.transport, "tls");
    assert.equal(clientStatus.heartbeats.path, "control");
    assert.equal(clientStatus.pacing, undefined, "stream pacing is for QUIC sessions only");
    const ready = await fetch(`http://127.0.0.1:${adminOf(clientIo)}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
  } finally {
    stop.abort();
  }
  assert.equal(await clientExit, 0);
  assert.equal(await serverExit, 0);
  assert.match(serverIo.err, /client connected client=default .*transport=tls/);
});

test("ts-tunnel server refuses bad flags with the fix, and TLS without a certificate", async () => {
  const io = captureIo();
  assert.equal(await main(["server", "-listen", "127.0.0.1:0"], { io }), 2);
  assert.equal(io.err, "Missing the token: add -token TOKEN, or use -config FILE\n");
  const noCert = captureIo();
  assert.equal(await main(["server", "-listen", "127.0.0.1:0", "-token", TOKEN], { io: noCert }), 2);
  assert.match(noCert.err, /^Cannot serve the tunnel over TLS without a certificate: give -cert FILE -key FILE/);
  const badRange = captureIo();
  assert.equal(
    await main(["server", "-token", TOKEN, "-transport", "tcp", "-port-range", "20000-100"], { io: badRange }),
    2,
  );
  assert.equal(
    badRange.err,
    'Cannot use port range "20000-100": write it as MIN-MAX with 1 <= MIN <= MAX <= 65535, e.g. "10000-20000"\n',
  );
  const client = captureIo();
  assert.equal(await main(["client", "-server", "h:1", "-token", TOKEN], { io: client }), 2);
  assert.match(client.err, /^Missing the local service: add -local HOST:PORT/);
});

test("the tunnel YAML takes many services and names bad keys with their path", async () => {
  const file = parseTunnelConfigFile(`
client:
  server: tunnel.example.com:7000
  client_id: laptop
  token: ${TOKEN}
  transport: tls
  tls: { ca_file: ./ca.pem }
  services:
    - { name: pg, local: "127.0.0.1:5432", remote_port: 15432, proxy_protocol: v2 }
    - { name: web, local: "127.0.0.1:8080" }
admin: { listen: "127.0.0.1:9091" }
`);
  assert.deepEqual(file.client?.config.services, [
    { name: "pg", localAddr: "127.0.0.1:5432", remotePort: 15432, proxyProtocol: "v2" },
    { name: "web", localAddr: "127.0.0.1:8080" },
  ]);
  assert.equal(file.client?.tls?.caFile, "./ca.pem");
  assert.throws(
    () => parseTunnelConfigFile("client:\n  server: h:1\n  token: x\n  services:\n    - { name: a, locl: 'h:1' }\n"),
    {
      name: "ConfigError",
      message: "client.services[0].locl: unknown key; allowed keys here: name, local, remote_port, proxy_protocol",
    },
  );
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-"));
  try {
    const path = join(dir, "server.yaml");
    await writeFile(path, "server:\n  listen: ':0'\n  tokens: { alice: short }\n");
    const io = captureIo();
    assert.equal(await main(["server", "-config", path], { io }), 2);
    assert.match(io.err, /^Cannot use TunnelServerConfig\.tokens\["alice"\] = a 5-character string: a token must be/);
  } finally {
    await rm(dir, { recursive: true });
  }
});
