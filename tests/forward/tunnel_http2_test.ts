/** `protocol: "http2"` through the real Tunnel and the CLI: an Http2Proxy in front of a node:http backend. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import { main } from "../../cli.ts";
import { resolveTunnelConfig } from "../../forward/config.ts";
import { Tunnel } from "../../forward/tunnel.ts";
import { createProtocol } from "../../protocols/registry.ts";
import { UnsupportedProtocolError } from "../../protocols/errors.ts";
import type { TlsCertificatePair, TlsCertificateSource } from "../../protocols/tls.ts";
import { captureIo, startWithAdmin } from "../_util/admin.ts";
import { createTestCerts, testCerts } from "../_util/certs.ts";
import { startEchoServer } from "../_util/echo_server.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";

interface Seen {
  method: string | undefined;
  url: string | undefined;
  xff: string | undefined;
  size: number;
}

/** A node:http backend that records what it saw and answers with it as JSON. */
async function startBackend() {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let size = 0;
    req.on("data", (chunk: Uint8Array) => size += chunk.byteLength);
    req.on("end", () => {
      const entry = { method: req.method, url: req.url, xff: req.headers["x-forwarded-for"] as string, size };
      seen.push(entry);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(entry));
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

/** One request over a fresh node:http2 session; resolves to the status, ALPN-level version and body. */
async function h2Request(
  url: string,
  options: { ca?: string; servername?: string; method?: string; body?: Uint8Array; path?: string } = {},
): Promise<{ status: number; body: string; alpn: string | false | null | undefined }> {
  const session = http2.connect(url, {
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.servername ? { servername: options.servername } : {}),
  });
  session.on("error", () => {});
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("h2 request timed out")), 10_000);
      const stream = session.request({
        ":method": options.method ?? "GET",
        ":path": options.path ?? "/hello",
      });
      let status = 0;
      let body = "";
      stream.on("response", (headers) => status = Number(headers[":status"]));
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => body += chunk);
      stream.on("end", () => {
        clearTimeout(timer);
        resolve({ status, body, alpn: (session.socket as tls.TLSSocket).alpnProtocol });
      });
      stream.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      stream.end(options.body ? Buffer.from(options.body) : undefined);
    });
  } finally {
    session.close();
  }
}

/** The serial number of the certificate a TLS server presents for `servername` (no verification). */
function peerSerial(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial.toUpperCase());
    });
    socket.once("error", reject);
  });
}

test("Tunnel with protocol http2 proxies node:http2 GET and POST to an HTTP/1.1 backend, with X-Forwarded-For and stats", async () => {
  const certs = await testCerts();
  await using backend = await startBackend();
  const tunnel = new Tunnel({
    protocol: "http2",
    listenAddr: "127.0.0.1:0",
    targetAddr: backend.target,
    tls: { certFile: certs.fullchainFile, keyFile: certs.keyFile },
  });
  await tunnel.start();
  try {
    assert.equal(tunnel.state, "listening");
    const url = `https://localhost:${tunnel.addr!.port}`;
    const get = await h2Request(url, { ca: certs.caPem });
    assert.equal(get.status, 200);
    assert.equal(get.alpn, "h2");
    assert.deepEqual(JSON.parse(get.body), { method: "GET", url: "/hello", xff: "127.0.0.1", size: 0 });
    const upload = new Uint8Array(100_000).fill(7);
    const post = await h2Request(url, { ca: certs.caPem, method: "POST", path: "/upload", body: upload });
    assert.equal(post.status, 200);
    assert.equal(JSON.parse(post.body).size, 100_000);
    assert.equal(backend.seen.length, 2);
    assert.equal(backend.seen[1].xff, "127.0.0.1");
    const stats = tunnel.stats();
    assert.equal(stats.connections, 2);
    assert.equal(stats.active, 0);
    assert.ok(stats.bytesReceived >= 100_000, `bytesReceived ${stats.bytesReceived}`);
    assert.ok(stats.bytesSent > 0);
    assert.equal(stats.errors, 0);
    stats.reset();
    assert.equal(tunnel.stats().connections, 0);
    assert.match(String(tunnel), /^http2 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$/);
  } finally {
    await tunnel.stop();
  }
  assert.equal(tunnel.state, "stopped");
});

test("Tunnel http2 counts upstream failures as errors, serves h2c, and refuses CONNECT outside connectAllow", async () => {
  await using echo = await startEchoServer();
  const failures: unknown[] = [];
  const dead = new Tunnel({ protocol: "http2", h2c: true, listenAddr: "127.0.0.1:0", targetAddr: "127.0.0.1:1" }, {
    observer: { onConnectionEnd: (end) => failures.push(end.error) },
  });
  await dead.start();
  try {
    const answer = await h2Request(`http://127.0.0.1:${dead.addr!.port}`);
    assert.equal(answer.status, 502);
    assert.equal(dead.stats().errors, 1);
    assert.equal(failures.length, 1);
  } finally {
    await dead.stop();
  }
  await using backend = await startBackend();
  const tunnel = new Tunnel({
    protocol: "http2",
    h2c: true,
    listenAddr: "127.0.0.1:0",
    targetAddr: backend.target,
    connectAllow: [`127.0.0.1:${echo.port}`],
  });
  await tunnel.start();
  try {
    const session = http2.connect(`http://127.0.0.1:${tunnel.addr!.port}`);
    session.on("error", () => {});
    const connect = (authority: string) =>
      new Promise<{ status: number; stream: http2.ClientHttp2Stream }>((resolve, reject) => {
        const stream = session.request({ ":method": "CONNECT", ":authority": authority });
        stream.on("response", (headers) => resolve({ status: Number(headers[":status"]), stream }));
        stream.on("error", reject);
      });
    const refused = await connect("127.0.0.1:1");
    assert.equal(refused.status, 403);
    refused.stream.close();
    const allowed = await connect(`127.0.0.1:${echo.port}`);
    assert.equal(allowed.status, 200);
    allowed.stream.write("ping");
    const echoed = await new Promise<string>((resolve) =>
      allowed.stream.once("data", (d: Buffer) => resolve(String(d)))
    );
    assert.equal(echoed, "ping");
    allowed.stream.close();
    session.close();
  } finally {
    await tunnel.stop();
  }
});

test("Tunnel http2 reloads its certificate files, and serves a certificate source by SNI name", async () => {
  const [first, second] = [await createTestCerts("First CA"), await createTestCerts("Second CA")];
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-h2-"));
  await using backend = await startBackend();
  try {
    await copyFile(first.fullchainFile, join(dir, "cert.pem"));
    await copyFile(first.keyFile, join(dir, "key.pem"));
    const tunnel = new Tunnel({
      protocol: "http2",
      listenAddr: "127.0.0.1:0",
      targetAddr: backend.target,
      tls: { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem"), reloadIntervalMs: 50 },
    });
    await tunnel.start();
    try {
      const port = tunnel.addr!.port;
      const before = await peerSerial(port, "localhost");
      await copyFile(second.keyFile, join(dir, "key.pem"));
      await copyFile(second.fullchainFile, join(dir, "cert.pem"));
      await waitFor(async () => (await peerSerial(port, "localhost")) !== before || undefined, "the new certificate");
      const answer = await h2Request(`https://localhost:${port}`, { ca: second.caPem });
      assert.equal(answer.status, 200);
    } finally {
      await tunnel.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // A certificate source: "localhost" gets the first pair, any other name the default (second).
  let pairs: { named?: TlsCertificatePair; fallback?: TlsCertificatePair } = {};
  const listeners = new Set<() => void>();
  const source: TlsCertificateSource = {
    certificateFor: (name) => name === "localhost" ? pairs.named : undefined,
    defaultCertificate: () => pairs.fallback,
    onCertificateChange(listener) {
      listeners.add(listener);
      return { [Symbol.dispose]: () => void listeners.delete(listener) };
    },
  };
  const tunnel = new Tunnel(
    { protocol: "http2", autoTls: true, listenAddr: "127.0.0.1:0", targetAddr: backend.target },
    {
      certificates: source,
    },
  );
  await tunnel.start();
  try {
    const port = tunnel.addr!.port;
    await assert.rejects(h2Request(`https://localhost:${port}`, { ca: first.caPem })); // no certificate yet: an alert
    pairs = {
      named: { cert: first.certPem + first.caPem, key: first.keyPem },
      fallback: { cert: second.certPem + second.caPem, key: second.keyPem },
    };
    listeners.forEach((l) => l());
    assert.equal((await h2Request(`https://localhost:${port}`, { ca: first.caPem })).status, 200);
    const other = await h2Request(`https://127.0.0.1:${port}`, { ca: second.caPem, servername: "other.test" }).catch((
      e,
    ) => e);
    // The default certificate names localhost and 127.0.0.1, not other.test: verification fails on the name only.
    assert.match(String(other), /other\.test|altnames|Hostname/i);
    assert.notEqual(await peerSerial(port, "localhost"), await peerSerial(port, "other.test"));
  } finally {
    await tunnel.stop();
  }
});

test("main() -protocol http2 -cert -key proxies for node:http2 and for curl --http2, with /status and metrics labelled http2", async () => {
  const certs = await testCerts();
  await using backend = await startBackend();
  const run = await startWithAdmin([
    "-protocol",
    "http2",
    "-listen",
    "127.0.0.1:0",
    "-target",
    backend.target,
    "-cert",
    certs.fullchainFile,
    "-key",
    certs.keyFile,
  ]);
  try {
    const [port] = run.ports;
    assert.ok(port > 0, run.io.err);
    assert.match(run.io.err, /engine=http2-proxy/);
    const get = await h2Request(`https://localhost:${port}`, { ca: certs.caPem });
    assert.equal(get.status, 200);
    assert.equal(JSON.parse(get.body).xff, "127.0.0.1");
    const curl = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn("curl", [
        "-sS",
        "--http2",
        "--cacert",
        certs.caFile,
        "--resolve",
        `localhost:${port}:127.0.0.1`,
        "-w",
        "\\n%{http_version}",
        `https://localhost:${port}/from-curl`,
      ]);
      let out = "", err = "";
      child.stdout.on("data", (d) => out += d);
      child.stderr.on("data", (d) => err += d);
      child.on("close", (code) => resolve({ code, out, err }));
    });
    assert.equal(curl.code, 0, curl.err);
    const [body, version] = curl.out.split("\n");
    assert.equal(version, "2");
    assert.equal(JSON.parse(body).url, "/from-curl");
    const status = await (await fetch(`http://127.0.0.1:${run.adminPort}/status`)).json();
    assert.equal(status.tunnels[0].protocol, "http2");
    assert.equal(status.tunnels[0].stats.connections, 2);
    const metrics = await (await fetch(`http://127.0.0.1:${run.adminPort}/metrics`)).text();
    assert.match(metrics, /ts_tunnel_connections_total\{listener="127\.0\.0\.1:0",protocol="http2"\} 2/);
  } finally {
    assert.equal(await run.stop(), 0);
  }
});

test("http2 settings are checked with the key, the value and the fix, and createProtocol('http2') points to the Tunnel", async () => {
  const base = { listenAddr: "127.0.0.1:0", targetAddr: "127.0.0.1:80" };
  assert.throws(() => resolveTunnelConfig({ ...base, upstream: "h2c" }), {
    message:
      'Cannot use TunnelConfig.upstream with protocol "tcp": it applies to protocol "http2" or "http3" (CLI: -protocol http2)',
  });
  assert.throws(() => resolveTunnelConfig({ ...base, protocol: "http2" }), {
    message:
      'Cannot use TunnelConfig.protocol = "http2" without TunnelConfig.tls: set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE), autoTls (CLI: -auto-tls), or h2c for cleartext (CLI: -h2c)',
  });
  assert.throws(() => resolveTunnelConfig({ ...base, protocol: "http2", h2c: true, connectAllow: ["db"] }), {
    name: "TypeError",
    message: /^Cannot use TunnelConfig\.connectAllow: Cannot parse CONNECT allow pattern "db"/,
  });
  assert.throws(() => resolveTunnelConfig({ ...base, protocol: "http2", h2c: true, altSvc: 70000 }), {
    name: "RangeError",
  });
  assert.throws(() => new Tunnel({ ...base, protocol: "tls", autoTls: true }), {
    message:
      "Cannot use TunnelConfig.autoTls without a certificate source: pass options.certificates (for example an AutoManager's tlsConfig())",
  });
  assert.throws(() => createProtocol("http2"), (error) => {
    assert.ok(error instanceof UnsupportedProtocolError);
    assert.match(error.message, /use Tunnel with protocol "http2" \(CLI: -protocol http2\), or Http2Proxy/);
    return true;
  });
  const cases: [string[], string][] = [
    [
      ["-target", "127.0.0.1:80", "-upstream", "h2c"],
      'Flag "-upstream" applies to an http2 listener: add -protocol http2 (or http3)\n',
    ],
    [
      ["-target", "127.0.0.1:80", "-protocol", "http2"],
      "-protocol http2 needs a certificate: add -cert FILE -key FILE (or -auto-tls, or -h2c for cleartext)\n",
    ],
    [
      ["-target", "127.0.0.1:80", "-protocol", "http2", "-h2c", "-cert", "c.pem"],
      'Flag "-cert" cannot be combined with -h2c (cleartext HTTP/2): remove one of them\n',
    ],
    [
      ["-target", "127.0.0.1:80", "-protocol", "http2", "-h2c", "-upstream", "h3"],
      'Flag "-upstream" cannot be "h3": use http1 or h2c\n',
    ],
    [
      ["-target", "127.0.0.1:80", "-protocol", "http2", "-cert", "c", "-key", "k", "-alpn", "h2"],
      'Flag "-alpn" does not apply to -protocol http2: the proxy offers h2 and http/1.1 itself\n',
    ],
  ];
  for (const [args, message] of cases) {
    const io = captureIo();
    assert.equal(await main(args, { io }), 2, args.join(" "));
    assert.equal(io.err, message);
  }
});
