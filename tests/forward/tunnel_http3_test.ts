/**
 * `protocol: "http3"`, an http2 listener with `http3: true` (h3 beside h2, Alt-Svc) and
 * `protocol: "quic"` with certificates, through the real Tunnel and the CLI's main(), with
 * gtlsclient (ngtcp2-client) as the HTTP/3 client and a node:http upstream.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../cli.ts";
import { resolveTunnelConfig, type TunnelConfig } from "../../forward/config.ts";
import { parseConfigFile } from "../../forward/config_file.ts";
import { Tunnel } from "../../forward/tunnel.ts";
import { defaultRuntime } from "../../protocols/runtime.ts";
import { captureIo, startWithAdmin } from "../_util/admin.ts";
import { type TestCerts, testCerts } from "../_util/certs.ts";
import { randomBytes, sameBytes, startEchoServer } from "../_util/echo_server.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import { h3Requests, noGtlsclient, sha256, startSizingUpstream } from "./_h3_client.ts";

/** A temporary folder with a request body of `size` bytes; removed by disposing. */
async function bodyFile(size: number, seed: number) {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-h3-"));
  const body = randomBytes(size, seed);
  const file = join(dir, "body.bin");
  await writeFile(file, body);
  return { body, file, dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

/** The CLI flags of a listener on a free loopback port with the test certificate, after `first`. */
function listenerArgs(first: string[], target: string, certs: TestCerts): string[] {
  return [...first, "-listen", "127.0.0.1:0", "-target", target, "-cert", certs.fullchainFile, "-key", certs.keyFile];
}

async function adminGet(port: number, path: string): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${port}${path}`)).text();
}

/** One GET over a fresh node:http2 session; resolves to the status and the response fields. */
async function h2Get(port: number, ca: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders }> {
  const session = http2.connect(`https://localhost:${port}`, { ca });
  session.on("error", () => {});
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("h2 request timed out")), 10_000);
      const stream = session.request({ ":method": "GET", ":path": "/via-h2" });
      let headers: http2.IncomingHttpHeaders = {};
      stream.on("response", (h) => headers = h);
      stream.resume();
      stream.on("end", () => {
        clearTimeout(timer);
        resolve({ status: Number(headers[":status"]), headers });
      });
      stream.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      stream.end();
    });
  } finally {
    session.close();
  }
}

test(
  "main() -protocol http3 serves gtlsclient POSTs with bodies to a node:http upstream; /metrics and /status count them",
  async () => {
    const certs = await testCerts();
    await using upstream = await startSizingUpstream();
    await using body = await bodyFile(100_000, 61);
    const run = await startWithAdmin(listenerArgs(["-protocol", "http3"], upstream.target, certs));
    try {
      assert.match(run.io.err, /listening tunnel="http3 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+"/);
      assert.match(run.io.err, /ready tunnels=1 runtime=\w+ engine=http3-proxy/);
      const [port] = run.ports;
      const { code, responses } = await h3Requests(port, ["/a", "/b", "/c"], body.file);
      assert.equal(code, 0, "gtlsclient exit code");
      assert.equal(responses.length, 3);
      const echoes = responses.map((r) => {
        assert.equal(r.status, 200);
        return r.headers.get("x-echo");
      }).sort();
      assert.deepEqual(echoes, ["/a", "/b", "/c"].map((p) => `${p} 100000 ${sha256(body.body)}`));
      const metrics = await adminGet(run.adminPort, "/metrics");
      assert.match(metrics, /ts_tunnel_connections_total\{listener="127\.0\.0\.1:0",protocol="http3"\} 3\n/);
      assert.match(metrics, /ts_tunnel_bytes_received_total\{listener="127\.0\.0\.1:0",protocol="http3"\} 300000\n/);
      const status = JSON.parse(await adminGet(run.adminPort, "/status"));
      const row = status.tunnels[0];
      assert.equal(row.protocol, "http3");
      assert.equal(row.state, "listening");
      assert.equal(row.stats.connections, 3);
      assert.equal(row.stats.errors, 0);
      assert.equal(row.stats.protocols.http3.requests, 3);
    } finally {
      assert.equal(await run.stop(), 0);
    }
  },
  { ignore: noGtlsclient, timeoutMs: 90_000 },
);

test(
  "main() -protocol http2 -http3: h2 answers carry Alt-Svc with the port, and gtlsclient gets answers on the same port",
  async () => {
    const certs = await testCerts();
    await using upstream = await startSizingUpstream();
    await using body = await bodyFile(20_000, 62);
    const run = await startWithAdmin(listenerArgs(["-protocol", "http2", "-http3"], upstream.target, certs));
    try {
      assert.match(run.io.err, /engine="http2-proxy\+h3"/);
      const [port] = run.ports;
      const h2 = await h2Get(port, certs.caPem);
      assert.equal(h2.status, 200);
      assert.equal(h2.headers["alt-svc"], `h3=":${port}"; ma=86400`);
      const { code, responses } = await h3Requests(port, ["/via-h3"], body.file);
      assert.equal(code, 0, "gtlsclient exit code");
      assert.equal(responses[0]?.status, 200);
      assert.equal(responses[0].headers.get("x-echo"), `/via-h3 20000 ${sha256(body.body)}`);
      const row = JSON.parse(await adminGet(run.adminPort, "/status")).tunnels[0];
      assert.equal(row.stats.connections, 2, "both protocols summed");
      assert.equal(row.stats.protocols.http2.requests, 1);
      assert.equal(row.stats.protocols.http3.requests, 1);
      assert.equal(row.stats.bytesReceived, 20_000);
      const metrics = await adminGet(run.adminPort, "/metrics");
      assert.match(metrics, /ts_tunnel_connections_total\{listener="127\.0\.0\.1:0",protocol="http2"\} 2\n/);
    } finally {
      assert.equal(await run.stop(), 0);
    }
  },
  { ignore: noGtlsclient, timeoutMs: 90_000 },
);

test(
  "Tunnel http3 stop() drains: a request in flight gets its answer after GOAWAY, then the tunnel is stopped",
  async () => {
    const certs = await testCerts();
    await using upstream = await startSizingUpstream({ delayMs: 400 });
    const tunnel = new Tunnel({
      protocol: "http3",
      listenAddr: "127.0.0.1:0",
      targetAddr: upstream.target,
      upstream: "http1",
      tls: { certFile: certs.fullchainFile, keyFile: certs.keyFile },
    });
    await tunnel.start();
    assert.equal(tunnel.addr?.transport, "udp");
    const request = h3Requests(tunnel.addr!.port, ["/slow"]);
    await waitFor(() => upstream.seen.length === 1, "the request at the upstream", 30_000);
    await tunnel.stop();
    assert.equal(tunnel.state, "stopped");
    const { responses } = await request;
    assert.equal(responses[0]?.status, 200);
    assert.equal(responses[0].headers.get("x-echo"), `/slow 0 ${sha256(new Uint8Array(0))}`);
    const stats = tunnel.stats();
    assert.equal(stats.connections, 1);
    assert.equal(stats.active, 0);
  },
  { ignore: noGtlsclient, timeoutMs: 90_000 },
);

test(
  "main() -protocol quic -cert -key -alpn forwards a 1 MiB QUIC stream to a TCP echo server byte-exact",
  async () => {
    const certs = await testCerts();
    await using echo = await startEchoServer();
    const run = await startWithAdmin(
      listenerArgs(["-protocol", "quic", "-alpn", "my-tunnel"], `127.0.0.1:${echo.port}`, certs),
    );
    try {
      assert.match(run.io.err, /listening tunnel="quic 127\.0\.0\.1:\d+ -> /);
      const runtime = await defaultRuntime();
      const conn = await runtime.connectQuic!({
        hostname: "127.0.0.1",
        port: run.ports[0],
        serverName: "localhost",
        caCerts: [certs.caPem],
        alpnProtocols: ["my-tunnel"],
        timeoutMs: 10_000,
      });
      try {
        const stream = await conn.openStream();
        const data = randomBytes(1024 * 1024, 63);
        const writing = (async () => {
          const writer = stream.writable.getWriter();
          for (let off = 0; off < data.byteLength; off += 64 * 1024) {
            await writer.write(
              data.subarray(off, off + 64 * 1024),
            );
          }
          await writer.close();
        })();
        const chunks: Uint8Array[] = [];
        let size = 0;
        for await (const chunk of stream.readable) {
          chunks.push(chunk);
          size += chunk.byteLength;
          assert.ok(size <= data.byteLength, "no more bytes than sent");
        }
        await writing;
        const got = new Uint8Array(size);
        let off = 0;
        for (const c of chunks) off += (got.set(c, off), c.byteLength);
        assert.ok(sameBytes(got, data), "1 MiB echoed byte-exact");
      } finally {
        conn.close();
        await conn.closed;
      }
      const row = JSON.parse(await adminGet(run.adminPort, "/status")).tunnels[0];
      assert.equal(row.protocol, "quic");
      assert.equal(row.stats.bytesReceived, 1024 * 1024);
    } finally {
      assert.equal(await run.stop(), 0);
    }
  },
  { timeoutMs: 90_000 },
);

/** Runs main() with `args` and resolves to its exit code and stderr. */
async function refused(args: string[]): Promise<{ code: number; err: string }> {
  const io = captureIo();
  const code = await main([...args, "-status", "off"], { io });
  return { code, err: io.err };
}

test("main() refuses bad http3, -http3 and quic combinations, naming the flag or key, the value and the fix", async () => {
  const certs = await testCerts();
  const cert = ["-cert", certs.fullchainFile, "-key", certs.keyFile];
  const base = ["-listen", "127.0.0.1:0", "-target", "127.0.0.1:9"];
  const cases: [string[], string][] = [
    [["-protocol", "http3", ...base], "-protocol http3 needs a certificate: add -cert FILE -key FILE\n"],
    [
      ["-protocol", "http3", ...base, ...cert, "-workers", "2"],
      'Cannot use TunnelConfig.workers = 2 with protocol "http3": only tcp listeners run in several workers; use workers: 1 or "auto"\n',
    ],
    [
      ["-protocol", "http3", ...base, ...cert, "-client-auth", "require", "-client-ca", certs.caFile],
      'Flag "-client-auth" does not apply to -protocol http3: the QUIC listener does not verify client certificates; use -protocol tls for mutual TLS\n',
    ],
    [
      ["-protocol", "http3", ...base, ...cert, "-alpn", "h3"],
      'Flag "-alpn" does not apply to -protocol http3: the proxy offers h3 itself\n',
    ],
    [
      ["-protocol", "quic", ...base, ...cert, "-tls-min-version", "1.2"],
      'Flag "-tls-min-version" does not apply to -protocol quic: QUIC always uses TLS 1.3\n',
    ],
    [
      ["-protocol", "http3", ...base, "-auto-tls", "-email", "a@example.com", "-domains", "example.com"],
      'Flag "-auto-tls" cannot be combined with -protocol http3: a QUIC listener cannot take a new certificate while it runs, so ACME renewals could not reach it; use -cert FILE -key FILE\n',
    ],
    [
      ["-protocol", "http2", "-h2c", "-http3", ...base],
      'Flag "-http3" cannot be combined with -h2c: HTTP/3 runs over QUIC, which is always encrypted; use -cert FILE -key FILE instead of -h2c\n',
    ],
    [["-protocol", "tcp", "-http3", ...base], 'Flag "-http3" applies to an http2 listener: add -protocol http2\n'],
    [
      ["-protocol", "http3", "-h2c", ...base, ...cert],
      'Flag "-h2c" applies to an http2 listener, not -protocol http3\n',
    ],
    [["-protocol", "quic", ...base], "-protocol quic needs a certificate: add -cert FILE -key FILE\n"],
  ];
  for (const [args, message] of cases) {
    const { code, err } = await refused(args);
    assert.equal(err, message, args.join(" "));
    assert.equal(code, 2, args.join(" "));
  }
});

test("TunnelConfig and YAML: http3 and quic need certificate files, refuse autoTls, reload and mTLS, and take upstream", async () => {
  const base: TunnelConfig = { listenAddr: "127.0.0.1:0", targetAddr: "127.0.0.1:9" };
  const files = { certFile: "c.pem", keyFile: "k.pem" };
  const configCases: [TunnelConfig, string][] = [
    [
      { ...base, protocol: "http3" },
      'Cannot use TunnelConfig.protocol = "http3" without TunnelConfig.tls: QUIC needs a certificate; set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE)',
    ],
    [
      { ...base, protocol: "http3", autoTls: true },
      "Cannot use TunnelConfig.autoTls with protocol \"http3\": a QUIC listener cannot take a new certificate while it runs (neither Deno's QUIC endpoint nor Bun's HTTP/3 server allows it, and rebinding would drop every connection), so ACME renewals could not reach it; set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE)",
    ],
    [
      { ...base, protocol: "http3", tls: { ...files, reloadIntervalMs: 5000 } },
      "Cannot use TunnelConfig.tls.reloadIntervalMs = 5000 with protocol \"http3\": a QUIC listener cannot take a new certificate while it runs (neither Deno's QUIC endpoint nor Bun's HTTP/3 server allows it, and rebinding would drop every connection); remove reloadIntervalMs (restart the tunnel to change the certificate)",
    ],
    [
      { ...base, protocol: "quic", tls: { ...files, clientAuth: "require", clientCaFile: "ca.pem" } },
      'Cannot use TunnelConfig.tls.clientAuth = "require" with protocol "quic": the QUIC listener does not verify client certificates; use protocol "tls" for mutual TLS',
    ],
    [
      { ...base, protocol: "http3", tls: files, h2c: true },
      'Cannot use TunnelConfig.h2c with protocol "http3": it applies to protocol "http2" (CLI: -protocol http2)',
    ],
    [
      { ...base, protocol: "http2", h2c: true, http3: true },
      "Cannot use TunnelConfig.http3 with h2c: HTTP/3 runs over QUIC, which is always encrypted; remove h2c (and set tls.certFile and tls.keyFile), or http3",
    ],
    [
      { ...base, protocol: "tcp", upstream: "h2c" },
      'Cannot use TunnelConfig.upstream with protocol "tcp": it applies to protocol "http2" or "http3" (CLI: -protocol http2)',
    ],
  ];
  for (const [config, message] of configCases) {
    assert.throws(() => resolveTunnelConfig(config), { message }, JSON.stringify(config));
  }
  const ok = resolveTunnelConfig({ ...base, protocol: "http3", upstream: "h2c", tls: files });
  assert.equal(ok.upstream, "h2c");
  assert.equal(resolveTunnelConfig({ ...base, protocol: "quic", tls: { ...files, alpn: ["x"] } }).tls?.alpn?.[0], "x");
  // A quic tunnel may take its certificate from setProtocol(): without either, start() refuses.
  await assert.rejects(() => new Tunnel({ ...base, protocol: "quic" }).start(), {
    name: "TypeError",
    message:
      'Cannot use TunnelConfig.protocol = "quic" without TunnelConfig.tls: QUIC needs a certificate; set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE)',
  });
  assert.equal(resolveTunnelConfig({ ...base, protocol: "http2", http3: true, tls: files }).http3, true);

  const yaml = (entry: string, top = "") => `${top}protocols:\n  - ${entry}\n`;
  const parsed = parseConfigFile(
    yaml(
      "{name: http3, listen: ':8443', target: '127.0.0.1:8080', upstream: h2c}",
      "tls: {cert_file: c.pem, key_file: k.pem}\n",
    ),
  );
  assert.deepEqual(parsed.tunnels[0], {
    protocol: "http3",
    listenAddr: ":8443",
    targetAddr: "127.0.0.1:8080",
    upstream: "h2c",
    tls: files,
  });
  const both = parseConfigFile(
    yaml(
      "{name: http2, listen: ':443', target: '127.0.0.1:8080', http3: true, tls: {cert_file: c.pem, key_file: k.pem}}",
    ),
  );
  assert.equal(both.tunnels[0].http3, true);
  const quic = parseConfigFile(
    yaml("{name: quic, listen: ':4433', target: '127.0.0.1:22', tls: {cert_file: c.pem, key_file: k.pem, alpn: [t]}}"),
  );
  assert.deepEqual(quic.tunnels[0].tls, { ...files, alpn: ["t"] });
  const yamlCases: [string, string][] = [
    [
      yaml(
        "{name: http3, listen: ':8443', target: '127.0.0.1:8080', tls: {cert_file: c.pem, key_file: k.pem, reload_interval: 5s}}",
      ),
      "protocols[0].tls.reload_interval: a QUIC listener cannot take a new certificate while it runs (neither Deno's QUIC endpoint nor Bun's HTTP/3 server allows it, and rebinding would drop every connection); remove reload_interval (restart the tunnel to change the certificate)",
    ],
    [
      yaml("{name: http3, listen: ':8443', target: '127.0.0.1:8080'}"),
      "protocols[0].tls: missing; an http3 listener needs tls.cert_file and tls.key_file (here or at the top level)",
    ],
    [
      yaml("{name: tcp, listen: ':8443', target: '127.0.0.1:8080', http3: true}"),
      "protocols[0].http3: applies to an http2 listener; set name: http2, or remove it",
    ],
    [
      yaml(
        "{name: http3, listen: ':8443', target: '127.0.0.1:8080'}",
        'options: {auto_tls: "true", email: a@example.com, domains: example.com}\n',
      ),
      "protocols[0].tls: missing; an http3 listener cannot take its certificate from ACME (options.auto_tls): a QUIC listener cannot take a new certificate while it runs (neither Deno's QUIC endpoint nor Bun's HTTP/3 server allows it, and rebinding would drop every connection); set tls.cert_file and tls.key_file in this entry",
    ],
    [
      yaml(
        "{name: quic, listen: ':4433', target: '127.0.0.1:22', tls: {cert_file: c.pem, key_file: k.pem, client_auth: require, ca_file: ca.pem}}",
      ),
      "protocols[0].tls.client_auth: a quic listener does not verify client certificates; use name: tls for mutual TLS, or remove it",
    ],
  ];
  for (const [text, message] of yamlCases) {
    assert.throws(() => parseConfigFile(text), { message }, text);
  }
});
