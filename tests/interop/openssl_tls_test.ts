/**
 * The `tls` protocol against the real `openssl` (s_client and s_server, OpenSSL 3): ALPN, the
 * minimum version, and mutual TLS in both directions.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { UnsupportedTlsOptionError } from "../../protocols/errors.ts";
import { TlsProtocol, type TlsServerOptions } from "../../protocols/tls.ts";
import type { Listener, TlsConn } from "../../protocols/types.ts";
import { type TestCerts, testCerts } from "../_util/certs.ts";
import { closedLoopbackPort } from "../_util/echo_server.ts";
import { runtimeName, test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";

const hasOpenssl = spawnSync("sh", ["-c", "command -v openssl"]).status === 0;
const missing = hasOpenssl ? false : process.env.CI ? false : "openssl is not installed (apt-get install openssl)";
const DENO_NO_MTLS = "Deno.listenTls cannot request client certificates (see tls_test.ts for the typed error)";
const DENO_NO_MIN_VERSION = "Deno.listenTls has no minimum-version setting (see tls_test.ts for the typed error)";

/** Upper bound for one openssl run. */
const OPENSSL_TIMEOUT_MS = 10_000;

interface Run {
  code: number | null;
  out: string;
}

/** Runs `openssl s_client` against 127.0.0.1:`port` with `input` on stdin; resolves when it exits. */
function sClient(port: number, certs: TestCerts, args: string[], input = "PING\n"): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn("openssl", [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      "localhost",
      "-CAfile",
      certs.caFile,
      "-ign_eof", // keep reading after stdin ends, until the server closes
      ...args,
    ]);
    let out = "";
    child.stdout.on("data", (d) => out += d);
    child.stderr.on("data", (d) => out += d);
    const timer = setTimeout(() => child.kill("SIGKILL"), OPENSSL_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    child.stdin.end(input);
  });
}

/** A TLS listener that answers the first bytes of each conn with `ECHO:<bytes>` and closes. */
async function echoServer(certs: TestCerts, server: TlsServerOptions) {
  const tls = new TlsProtocol({ server: { certFile: certs.fullchainFile, keyFile: certs.keyFile, ...server } });
  const listener: Listener<TlsConn> = await tls.listen({ hostname: "127.0.0.1", port: 0 });
  const handshakes: { alpn?: string | null; peer?: string; error?: unknown }[] = [];
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    for await (const incoming of listener) {
      tasks.push((async () => {
        let conn: TlsConn;
        try {
          conn = await incoming.handshake({ timeoutMs: 5_000 });
        } catch (error) {
          handshakes.push({ error });
          return;
        }
        handshakes.push({ alpn: conn.alpnProtocol, peer: conn.peerCertificate?.subject });
        try {
          const reader = conn.readable.getReader();
          const { value } = await reader.read();
          reader.releaseLock();
          if (value) {
            const writer = conn.writable.getWriter();
            await writer.write(new TextEncoder().encode(`ECHO:${new TextDecoder().decode(value)}`));
            await writer.close();
          }
        } catch { /* the client went away */ }
        conn.close();
      })());
    }
  })();
  return {
    port: listener.addr.port,
    handshakes,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
      await Promise.allSettled(tasks);
    },
  };
}

test(
  "openssl s_client -alpn h2,http/1.1 negotiates h2 with a verified certificate and gets its bytes back",
  async () => {
    const certs = await testCerts();
    await using server = await echoServer(certs, { alpnProtocols: ["h2", "http/1.1"] });
    const run = await sClient(server.port, certs, ["-alpn", "h2,http/1.1"]);
    assert.match(run.out, /ALPN protocol: h2/);
    assert.match(run.out, /Verify return code: 0 \(ok\)/);
    assert.match(run.out, /ECHO:PING/);
    const h1 = await sClient(server.port, certs, ["-alpn", "http/1.1"]);
    assert.match(h1.out, /ALPN protocol: http\/1\.1/);
    await waitFor(() => server.handshakes.length === 2, "two handshakes");
    assert.deepEqual(server.handshakes.map((h) => h.alpn), ["h2", "http/1.1"]);
  },
  { ignore: missing },
);

test("openssl s_client -tls1_2 is refused when minVersion is 1.3, and -tls1_3 gets through", async () => {
  const certs = await testCerts();
  await using server = await echoServer(certs, { minVersion: "1.3" });
  const old = await sClient(server.port, certs, ["-tls1_2"]);
  assert.notEqual(old.code, 0);
  assert.match(old.out, /alert protocol version|wrong version number|unsupported protocol/i);
  assert.doesNotMatch(old.out, /ECHO:/);
  const current = await sClient(server.port, certs, ["-tls1_3"]);
  assert.match(current.out, /Protocol *: TLSv1\.3/);
  assert.match(current.out, /ECHO:PING/);
  // A listener that allows 1.2 (the default) serves -tls1_2.
  await using lenient = await echoServer(certs, {});
  const ok = await sClient(lenient.port, certs, ["-tls1_2"]);
  assert.match(ok.out, /Protocol *: TLSv1\.2/);
  assert.match(ok.out, /ECHO:PING/);
}, { ignore: missing || (runtimeName === "deno" ? DENO_NO_MIN_VERSION : false) });

test(
  'clientAuth "require": openssl s_client without a certificate is refused, with the client certificate it is echoed',
  async () => {
    const certs = await testCerts();
    await using server = await echoServer(certs, { clientAuth: "require", clientCaFile: certs.caFile });
    const without = await sClient(server.port, certs, []);
    assert.doesNotMatch(without.out, /ECHO:/);
    assert.match(without.out, /alert certificate required|alert handshake failure/i);
    const withCert = await sClient(server.port, certs, ["-cert", certs.clientCertFile, "-key", certs.clientKeyFile]);
    assert.match(withCert.out, /ECHO:PING/);
    await waitFor(() => server.handshakes.length === 2, "two handshakes");
    assert.ok(server.handshakes[0].error, "the handshake without a certificate failed");
    assert.equal(server.handshakes[1].peer, "CN=test-client");
  },
  { ignore: missing || (runtimeName === "deno" ? DENO_NO_MTLS : false) },
);

test("Deno reports mutual TLS on a listener as unsupported, with a typed error", async () => {
  const certs = await testCerts();
  await assert.rejects(
    () => echoServer(certs, { clientAuth: "require", clientCaFile: certs.caFile }),
    (error) => error instanceof UnsupportedTlsOptionError && error.option === "clientAuth",
  );
}, { ignore: runtimeName === "deno" ? false : "Bun supports client certificates" });

test("TlsProtocol.dial() presents a client certificate to openssl s_server -Verify 1 and negotiates ALPN", async () => {
  const certs = await testCerts();
  const port = await closedLoopbackPort();
  const child = spawn("openssl", [
    "s_server",
    "-accept",
    `127.0.0.1:${port}`,
    "-cert",
    certs.certFile,
    "-key",
    certs.keyFile,
    "-CAfile",
    certs.caFile,
    "-Verify",
    "1",
    "-verify_return_error",
    "-alpn",
    "h2",
    "-naccept",
    "1",
  ], { stdio: ["pipe", "pipe", "pipe"] }); // stdin stays open: s_server stops at its end
  let out = "";
  child.stdout.on("data", (d) => out += d);
  child.stderr.on("data", (d) => out += d);
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const timer = setTimeout(() => child.kill("SIGKILL"), OPENSSL_TIMEOUT_MS);
  try {
    await waitFor(() => out.includes("ACCEPT"), "openssl s_server to listen");
    const tls = new TlsProtocol({
      client: {
        serverName: "localhost",
        caFile: certs.caFile,
        certFile: certs.clientCertFile,
        keyFile: certs.clientKeyFile,
        alpnProtocols: ["h2"],
      },
    });
    await using conn = await tls.dial({ hostname: "127.0.0.1", port }, { timeoutMs: 5_000 });
    assert.equal(conn.alpnProtocol, "h2");
    const writer = conn.writable.getWriter();
    await writer.write(new TextEncoder().encode("hello-over-mtls\n"));
    writer.releaseLock();
    await waitFor(() => out.includes("hello-over-mtls"), "s_server to print the bytes");
    assert.match(out, /Client certificate/);
    assert.match(out, /ALPN protocols selected: h2/);
  } finally {
    child.stdin.end();
    child.kill();
    await exited;
    clearTimeout(timer);
  }
}, { ignore: missing });
