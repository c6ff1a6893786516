import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLS_FLAGS, tlsFromFlags, UsageError } from "../../forward/cli_flags.ts";
import { resolveTunnelConfig } from "../../forward/config.ts";
import { ConfigError, parseConfigFile } from "../../forward/config_file.ts";
import { forward } from "../../forward/engine.ts";
import { Tunnel } from "../../forward/tunnel.ts";
import { NATIVE_IO, PLAIN_TCP, SOCKET_FD } from "../../protocols/_native_io.ts";
import { NetError, UnsupportedTlsOptionError } from "../../protocols/errors.ts";
import { createProtocol } from "../../protocols/registry.ts";
import { TlsProtocol, type TlsReloadEvent } from "../../protocols/tls.ts";
import type { Conn, Listener, TlsConn } from "../../protocols/types.ts";
import { createTestCerts, type TestCerts, testCerts } from "../_util/certs.ts";
import { randomBytes, roundTrip, sameBytes, startEchoServer } from "../_util/echo_server.ts";
import { runtimeName, test } from "../_util/test.ts";
import { sleep, waitFor } from "../_util/wait.ts";

const LOOPBACK = "127.0.0.1";
const encode = (text: string) => new TextEncoder().encode(text);

/** A TLS server for one test: files from `certs`, every accepted conn handed to `onConn`. */
async function serve(
  certs: TestCerts,
  onConn: (conn: TlsConn) => Promise<void> | void,
  server: ConstructorParameters<typeof TlsProtocol>[0] extends infer O ? O extends { server?: infer S } ? S : never
    : never = {},
) {
  const tls = new TlsProtocol({ server: { certFile: certs.fullchainFile, keyFile: certs.keyFile, ...server } });
  const listener = await tls.listen({ hostname: LOOPBACK, port: 0 });
  const errors: unknown[] = [];
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    for await (const incoming of listener) {
      tasks.push((async () => {
        try {
          const conn = await incoming.handshake({ timeoutMs: 5_000 });
          await onConn(conn);
        } catch (error) {
          errors.push(error);
        }
      })());
    }
  })();
  return {
    listener,
    port: listener.addr.port,
    errors,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
      await Promise.allSettled(tasks);
    },
  };
}

function client(certs: TestCerts, options: ConstructorParameters<typeof TlsProtocol>[0] = {}): TlsProtocol {
  return new TlsProtocol({ ...options, client: { caFile: certs.caFile, ...options.client } });
}

/** Reads a stream to its end and checks it equals `expected`, chunk by chunk (no 64 MiB copies). */
async function expectBytes(readable: ReadableStream<Uint8Array>, expected: Uint8Array): Promise<void> {
  let offset = 0;
  for await (const chunk of readable) {
    const want = Buffer.from(
      expected.buffer,
      expected.byteOffset + offset,
      Math.min(chunk.byteLength, expected.byteLength - offset),
    );
    if (chunk.byteLength > want.byteLength || !want.equals(chunk)) {
      throw new assert.AssertionError({ message: `bytes differ in the chunk at offset ${offset}` });
    }
    offset += chunk.byteLength;
  }
  assert.equal(offset, expected.byteLength);
}

async function writeAll(conn: Conn, data: Uint8Array): Promise<void> {
  const writer = conn.writable.getWriter();
  const CHUNK = 256 * 1024;
  for (let off = 0; off < data.byteLength; off += CHUNK) await writer.write(data.subarray(off, off + CHUNK));
  await writer.close(); // half-close
}

async function readText(conn: Conn): Promise<string> {
  return await new Response(conn.readable).text();
}

function isCode(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof NetError, `expected a NetError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

test("TlsProtocol moves 64 MiB each way at once, byte-exact", async () => {
  const certs = await testCerts();
  const SIZE = 64 * 1024 * 1024;
  const up = randomBytes(SIZE, 1);
  const down = randomBytes(SIZE, 2);
  await using server = await serve(certs, async (conn) => {
    await Promise.all([expectBytes(conn.readable, up), writeAll(conn, down)]);
    conn.close();
  });
  await using conn = await client(certs).dial({ hostname: "localhost", port: server.port });
  await Promise.all([writeAll(conn, up), expectBytes(conn.readable, down)]);
  conn.close();
  await server[Symbol.asyncDispose]();
  assert.deepEqual(server.errors, []);
}, { timeoutMs: 120_000 });

test("TLS half-close: each side reads the other's end of stream and can still answer", async () => {
  const certs = await testCerts();
  await using server = await serve(certs, async (conn) => {
    const got = await readText(conn); // ends at the client's half-close
    await writeAll(conn, encode(`got ${got}`));
  });
  await using conn = await client(certs).dial({ hostname: LOOPBACK, port: server.port });
  await writeAll(conn, encode("ping"));
  assert.equal(await readText(conn), "got ping");
  await server[Symbol.asyncDispose]();
  assert.deepEqual(server.errors, []);
});

test("ALPN: both sides see the negotiated protocol, or null when the client offers none", async () => {
  const certs = await testCerts();
  const seen: (string | null)[] = [];
  await using server = await serve(certs, (conn) => {
    seen.push(conn.alpnProtocol);
    conn.close();
  }, { alpnProtocols: ["h2", "http/1.1"] });
  const h1 = await client(certs, { client: { alpnProtocols: ["http/1.1"] } }).dial({
    hostname: LOOPBACK,
    port: server.port,
  });
  assert.equal(h1.alpnProtocol, "http/1.1");
  h1.close();
  const both = await client(certs, { client: { alpnProtocols: ["h2", "http/1.1"] } })
    .dial({ hostname: LOOPBACK, port: server.port });
  assert.equal(both.alpnProtocol, "h2");
  both.close();
  const none = await client(certs).dial({ hostname: LOOPBACK, port: server.port });
  assert.equal(none.alpnProtocol, null);
  none.close();
  await waitFor(() => seen.length === 3, "three server handshakes");
  assert.deepEqual(seen, ["http/1.1", "h2", null]);
});

test("TlsProtocol.dial() verifies by default: no CA for our private CA fails with EHANDSHAKE", async () => {
  const certs = await testCerts();
  await using server = await serve(certs, (conn) => conn.close());
  await assert.rejects(() => new TlsProtocol().dial({ hostname: "localhost", port: server.port }), (error) => {
    isCode("EHANDSHAKE")(error);
    assert.equal((error as NetError).op, "handshake");
    assert.equal((error as NetError).protocol, "tls");
    assert.match(
      (error as Error).message,
      new RegExp(`^Cannot dial "localhost:${server.port}" over tls: handshake failed: `),
    );
    return true;
  });
  // A CA that did not sign the server's certificate is no better.
  const other = await createTestCerts("Unrelated CA");
  await assert.rejects(() => client(other).dial({ hostname: "localhost", port: server.port }), isCode("EHANDSHAKE"));
});

test("TlsProtocol.dial() rejects a server name the certificate does not cover, and accepts one it does", async () => {
  const certs = await testCerts();
  await using server = await serve(certs, (conn) => conn.close());
  const wrong = client(certs, { client: { serverName: "wrong.example.com" } });
  await assert.rejects(() => wrong.dial({ hostname: LOOPBACK, port: server.port }), isCode("EHANDSHAKE"));
  const right = client(certs, { client: { serverName: "localhost" } });
  (await right.dial({ hostname: LOOPBACK, port: server.port })).close();
  (await client(certs).dial({ hostname: "::1", port: server.port }).catch(() => undefined))?.close(); // IPv4-only listener
});

test("certificate reload: new handshakes see the new certificate, open conns carry on, a bad file keeps the last good one", async () => {
  const first = await testCerts();
  const second = await createTestCerts("Second CA");
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-reload-"));
  try {
    const certFile = join(dir, "cert.pem");
    const keyFile = join(dir, "key.pem");
    await copyFile(first.fullchainFile, certFile);
    await copyFile(first.keyFile, keyFile);
    const events: TlsReloadEvent[] = [];
    const tls = new TlsProtocol({
      server: { certFile, keyFile, reloadIntervalMs: 20, onReload: (event) => events.push(event) },
    });
    await using listener = await tls.listen({ hostname: LOOPBACK, port: 0 });
    const port = listener.addr.port;
    const loop = echoAll(listener);
    const firstSerial = listener.certificate?.serialNumber;
    const old = await client(first).dial({ hostname: "localhost", port });
    assert.equal(await echoOnce(old, "before"), "before");

    // Replace both files (the key first: a cert that does not match its key yet is not used).
    await copyFile(second.keyFile, keyFile);
    await copyFile(second.fullchainFile, certFile);
    await waitFor(() => events.some((e) => e.ok), "the reload to complete");
    const conn = await client(second).dial({ hostname: "localhost", port });
    if (runtimeName === "bun") assert.equal(conn.peerCertificate?.issuer, "CN=Second CA");
    conn.close();
    assert.notEqual(listener.certificate?.serialNumber, firstSerial);
    await assert.rejects(() => client(first).dial({ hostname: "localhost", port }), isCode("EHANDSHAKE"));
    assert.equal(await echoOnce(old, "after"), "after"); // the conn from before the reload is unaffected
    old.close();

    // A broken certificate file is reported and the second certificate stays in use.
    await writeFile(certFile, "not a certificate\n");
    const failure = await waitFor(() => events.find((e) => !e.ok), "the failed reload to be reported");
    assert.match(failure.ok ? "" : failure.error.message, /Cannot load the TLS certificate ".*cert\.pem"/);
    (await client(second).dial({ hostname: "localhost", port })).close();
    assert.equal(events.filter((e) => e.ok).length, 1);
    listener.close();
    await loop;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Echoes each conn line by line until the peer half-closes. */
async function echoAll(listener: Listener<TlsConn>): Promise<void> {
  const tasks: Promise<unknown>[] = [];
  for await (const incoming of listener) {
    tasks.push(incoming.handshake().then((conn) => conn.readable.pipeTo(conn.writable)).catch(() => {}));
  }
  await Promise.allSettled(tasks);
}

async function echoOnce(conn: Conn, text: string): Promise<string> {
  const writer = conn.writable.getWriter();
  await writer.write(encode(text));
  writer.releaseLock();
  const reader = conn.readable.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return new TextDecoder().decode(value);
}

test("a client that sends nothing is closed after the handshake deadline; the listener keeps serving", async () => {
  const certs = await testCerts();
  const tls = new TlsProtocol({ server: { cert: certs.certPem + certs.caPem, key: certs.keyPem } });
  await using listener = await tls.listen({ hostname: LOOPBACK, port: 0 });
  const outcomes: unknown[] = [];
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    for await (const incoming of listener) {
      tasks.push(
        incoming.handshake({ timeoutMs: 300 }).then((conn) => {
          outcomes.push("ok");
          conn.close();
        }, (error) => void outcomes.push(error)),
      );
    }
  })();
  const silent = net.connect({ host: LOOPBACK, port: listener.addr.port });
  silent.on("error", () => {});
  const started = Date.now();
  const closed = new Promise<number>((resolve) => silent.once("close", () => resolve(Date.now() - started)));
  await new Promise((resolve) => silent.once("connect", resolve));
  // While the silent client waits, a real one gets through.
  (await client(certs).dial({ hostname: LOOPBACK, port: listener.addr.port })).close();
  await waitFor(() => outcomes.length === 2, "both handshakes to settle");
  assert.ok(Date.now() - started >= 250, "the deadline was not cut short");
  if (runtimeName === "bun") {
    const after = await Promise.race([closed, sleep(5_000).then(() => -1)]);
    assert.ok(after >= 250 && after < 3_000, `the silent client was closed after ${after} ms`);
  }
  // Deno: closing a Deno.listenTls conn before its handshake ends does not close the TCP socket
  // (Deno 2.9: it stays open until the peer sends or closes); the handshake is given up all the same.
  const failure = outcomes.find((o) => o !== "ok");
  isCode("ETIMEDOUT")(failure);
  assert.equal((failure as NetError).op, "handshake");
  assert.ok((failure as NetError).timeout);
  assert.ok(outcomes.includes("ok"));
  silent.destroy();
  listener.close();
  await loop;
  await Promise.allSettled(tasks);
});

test("TLS conns offer native I/O but never claim to be plain TCP, and the native pump forwards them", async () => {
  const certs = await testCerts();
  await using echo = await startEchoServer();
  const tcp = createProtocol("tcp");
  const stats: { path: string }[] = [];
  await using server = await serve(certs, async (conn) => {
    assert.ok(NATIVE_IO in conn && (conn as unknown as Record<symbol, unknown>)[NATIVE_IO]);
    assert.equal((conn as unknown as Record<symbol, unknown>)[PLAIN_TCP], undefined);
    assert.equal((conn as unknown as Record<symbol, unknown>)[SOCKET_FD], undefined);
    const upstream = await tcp.dial({ hostname: LOOPBACK, port: echo.port });
    stats.push(await forward(conn, upstream));
  });
  const payload = randomBytes(3 * 1024 * 1024 + 17, 3);
  await using conn = await client(certs).dial({ hostname: LOOPBACK, port: server.port });
  await Promise.all([writeAll(conn, payload), expectBytes(conn.readable, payload)]);
  await waitFor(() => stats.length === 1, "forward() to finish");
  assert.equal(stats[0].path, runtimeName === "deno" ? "pull-pump" : "push-pump");
});

test("a TLS listener on a port in use fails with EADDRINUSE, though reloading binds with SO_REUSEPORT", async () => {
  const certs = await testCerts();
  await using busy = await startEchoServer();
  const tls = new TlsProtocol({ server: { certFile: certs.fullchainFile, keyFile: certs.keyFile } });
  await assert.rejects(() => tls.listen({ hostname: LOOPBACK, port: busy.port }), isCode("EADDRINUSE"));
  await using first = await tls.listen({ hostname: LOOPBACK, port: 0 });
  await assert.rejects(() => tls.listen({ hostname: LOOPBACK, port: first.addr.port }), isCode("EADDRINUSE"));
  // After a close the port can be bound again (a restart).
  const port = first.addr.port;
  first.close();
  await waitFor(
    () => tls.listen({ hostname: LOOPBACK, port }).then((l) => (l.close(), true), () => false),
    "the port to be free again",
  );
});

test("createProtocol('tls') builds a TlsProtocol from the tls settings", async () => {
  const certs = await testCerts();
  const protocol = createProtocol("tls", {
    tls: { server: { certFile: certs.fullchainFile, keyFile: certs.keyFile } },
  });
  assert.ok(protocol instanceof TlsProtocol);
  assert.equal(protocol.name, "tls");
  await using listener = await protocol.listen({ hostname: LOOPBACK, port: 0 });
  assert.equal(listener.addr.port > 0, true);
});

test("TlsProtocol rejects conflicting, incomplete and invalid settings with the key and the fix", async () => {
  const certs = await testCerts();
  assert.throws(() => new TlsProtocol({ server: { certFile: certs.certFile } }), {
    name: "TypeError",
    message: 'Cannot create the tls protocol: "server.certFile" needs a key: set "server.keyFile"',
  });
  assert.throws(() => new TlsProtocol({ server: { cert: "x", certFile: "y", key: "z" } }), TypeError);
  assert.throws(() => new TlsProtocol({ server: { minVersion: "1.1" as "1.2" } }), {
    name: "RangeError",
    message: 'Cannot create the tls protocol: "server.minVersion" must be "1.2" or "1.3": current value is "1.1"',
  });
  assert.throws(
    () => new TlsProtocol({ server: { certFile: certs.certFile, keyFile: certs.keyFile, clientAuth: "require" } }),
    /"server.clientAuth" is "require": set "server.clientCaFile"/,
  );
  await assert.rejects(() => new TlsProtocol().listen({ hostname: LOOPBACK, port: 0 }), TypeError);
  await assert.rejects(
    () =>
      new TlsProtocol({ server: { certFile: certs.caFile + ".missing", keyFile: certs.keyFile } }).listen({ port: 0 }),
    /Cannot read the TLS certificate ".*ca\.pem\.missing": no such file/,
  );
  const other = await createTestCerts("Mismatch CA");
  await assert.rejects(
    () => new TlsProtocol({ server: { certFile: certs.certFile, keyFile: other.keyFile } }).listen({ port: 0 }),
    /Cannot use the TLS key ".*leaf\.key": it does not match the certificate ".*leaf\.pem"/,
  );
});

test("runtime limits: Deno refuses client certificates, TLS-1.3-only and insecure dials with a typed error", async () => {
  const certs = await testCerts();
  const mtls = new TlsProtocol({
    server: {
      certFile: certs.fullchainFile,
      keyFile: certs.keyFile,
      clientAuth: "require",
      clientCaFile: certs.caFile,
    },
  });
  const tls13 = new TlsProtocol({
    server: { certFile: certs.fullchainFile, keyFile: certs.keyFile, minVersion: "1.3" },
  });
  await using server = await serve(certs, (conn) => conn.close());
  const insecure = new TlsProtocol({ client: { insecure: true } });
  if (runtimeName === "deno") {
    for (const protocol of [mtls, tls13]) {
      await assert.rejects(() => protocol.listen({ hostname: LOOPBACK, port: 0 }), (error) => {
        assert.ok(error instanceof UnsupportedTlsOptionError);
        assert.equal(error.runtime, "deno");
        assert.match(
          error.message,
          /^Cannot use protocol "tls": option "(clientAuth|minVersion)" is not available on deno: /,
        );
        return true;
      });
    }
    await assert.rejects(() => insecure.dial({ hostname: LOOPBACK, port: server.port }), UnsupportedTlsOptionError);
    return;
  }
  // Bun: mutual TLS works with our own client, and the server sees who the client is.
  const seen: (string | undefined)[] = [];
  await using listener = await mtls.listen({ hostname: LOOPBACK, port: 0 });
  const loop = (async () => {
    for await (const incoming of listener) {
      await incoming.handshake().then((conn) => {
        seen.push(conn.peerCertificate?.subject);
        conn.close();
      }, () => seen.push("rejected"));
    }
  })();
  const withCert = client(certs, { client: { certFile: certs.clientCertFile, keyFile: certs.clientKeyFile } });
  (await withCert.dial({ hostname: LOOPBACK, port: listener.addr.port })).close();
  await waitFor(() => seen.length === 1, "the mTLS handshake");
  assert.deepEqual(seen, ["CN=test-client"]);
  // insecure skips verification (asked for explicitly), and says the certificate was not verified.
  const conn = await insecure.dial({ hostname: LOOPBACK, port: server.port });
  assert.equal(conn.peerCertificate?.verified, false);
  assert.equal(conn.tlsVersion, "TLSv1.3");
  conn.close();
  listener.close();
  await loop;
});

test("Tunnel terminates TLS in front of a TCP target, and originates verified TLS to a TLS target", async () => {
  const certs = await testCerts();
  await using echo = await startEchoServer();
  const front = new Tunnel({
    protocol: "tls",
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${echo.port}`,
    tls: { certFile: certs.fullchainFile, keyFile: certs.keyFile, alpn: ["h2", "http/1.1"] },
  });
  await front.start();
  try {
    const payload = randomBytes(1024 * 1024 + 5, 7);
    const tls = client(certs, { client: { alpnProtocols: ["h2"] } });
    await using conn = await tls.dial({ hostname: LOOPBACK, port: front.addr!.port });
    assert.equal(conn.alpnProtocol, "h2");
    await Promise.all([writeAll(conn, payload), expectBytes(conn.readable, payload)]);
  } finally {
    await front.stop();
  }
  await using back = await serve(certs, (conn) => conn.readable.pipeTo(conn.writable));
  const origin = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${back.port}`,
    targetTls: { serverName: "localhost", caFile: certs.caFile },
  });
  await origin.start();
  try {
    const payload = randomBytes(300_000, 8);
    assert.ok(sameBytes(await roundTrip(origin.addr!.port, payload), payload));
  } finally {
    await origin.stop();
  }
  // Without the CA the target's certificate is refused: the client is closed, nothing is forwarded.
  const unverified = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${back.port}`,
    targetTls: { serverName: "localhost" },
    dialAttempts: 1,
  });
  await unverified.start();
  try {
    assert.equal((await roundTrip(unverified.addr!.port, encode("x"))).byteLength, 0);
  } finally {
    await unverified.stop();
  }
});

test("Tunnel TLS settings are validated with the key, the value and the fix", () => {
  const base = { listenAddr: "127.0.0.1:0", targetAddr: "127.0.0.1:1" };
  assert.throws(
    () => resolveTunnelConfig({ ...base, protocol: "tls" }),
    /set tls\.certFile and tls\.keyFile \(CLI: -cert FILE -key FILE\)/,
  );
  assert.throws(
    () => resolveTunnelConfig({ ...base, tls: { certFile: "c", keyFile: "k" } }),
    /Cannot use TunnelConfig\.tls with protocol "tcp": set protocol "tls"/,
  );
  assert.throws(
    () =>
      resolveTunnelConfig({
        ...base,
        protocol: "tls",
        tls: { certFile: "c", keyFile: "k", minVersion: "1.1" as "1.2" },
      }),
    { name: "RangeError", message: 'Cannot use TunnelConfig.tls.minVersion = "1.1": use "1.2" or "1.3"' },
  );
  assert.throws(
    () => resolveTunnelConfig({ ...base, targetTls: { caFlie: "x" } as unknown as { caFile: string } }),
    /Cannot use TunnelConfig\.targetTls\.caFlie: unknown key; use one of serverName, caFile/,
  );
  // YAML: go-tunnel's top-level tls section feeds tls listeners; an entry may override it.
  const file = parseConfigFile(`
tls: { cert_file: ./cert.pem, key_file: ./key.pem }
protocols:
  - { name: tls, listen: ":8443", target: "127.0.0.1:80", tls: { min_version: 1.3, alpn: [h2] } }
  - { name: tcp, listen: ":8080", target: "127.0.0.1:443", target_tls: { server_name: backend, ca_file: ./ca.pem } }
`);
  assert.deepEqual(file.tunnels[0].tls, {
    certFile: "./cert.pem",
    keyFile: "./key.pem",
    minVersion: "1.3",
    alpn: ["h2"],
  });
  assert.deepEqual(file.tunnels[1].targetTls, { serverName: "backend", caFile: "./ca.pem" });
  assert.throws(
    () =>
      parseConfigFile(
        `tls: { cert_file: a, key_file: b, ca_file: c }\nprotocols: [{ name: tls, listen: ":1", target: "h:2" }]`,
      ),
    (error) =>
      error instanceof ConfigError && error.path === "tls.ca_file" && /add client_auth: require/.test(error.message),
  );
  assert.throws(
    () => parseConfigFile(`protocols: [{ name: tls, listen: ":1", target: "h:2" }]`),
    (error) => error instanceof ConfigError && error.path === "protocols[0].tls",
  );
  // CLI: go-tunnel's -cert and -key.
  assert.ok(TLS_FLAGS.cert && TLS_FLAGS.key);
  assert.deepEqual(tlsFromFlags({ cert: "c.pem", key: "k.pem", alpn: "h2,http/1.1" }, "tls"), {
    tls: { certFile: "c.pem", keyFile: "k.pem", alpn: ["h2", "http/1.1"] },
  });
  assert.throws(() => tlsFromFlags({ cert: "c.pem" }, "tls"), {
    name: "UsageError",
    message: "-protocol tls needs a certificate: add -key FILE",
  });
  assert.throws(() => tlsFromFlags({ cert: "c.pem", key: "k.pem" }, "tcp"), UsageError);
  assert.throws(() => tlsFromFlags({ "target-ca": "ca.pem" }, "tcp"), /add -target-tls/);
});
