/** TlsProtocol with a certificate source (automatic TLS): the alert before the first certificate, then swaps. */
import assert from "node:assert/strict";
import tls from "node:tls";
import { Tunnel } from "../../forward/tunnel.ts";
import { NetError } from "../../protocols/errors.ts";
import { type TlsCertificatePair, type TlsCertificateSource, TlsProtocol } from "../../protocols/tls.ts";
import { createTestCerts, testCerts } from "../_util/certs.ts";
import { startEchoServer } from "../_util/echo_server.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";

/** A source whose certificate the test sets; `set()` notifies like an ACME manager does. */
function fakeSource(): TlsCertificateSource & { set(pair: TlsCertificatePair | undefined): void } {
  let current: TlsCertificatePair | undefined;
  const listeners = new Set<() => void>();
  return {
    certificateFor: () => current,
    defaultCertificate: () => current,
    onCertificateChange(listener) {
      listeners.add(listener);
      return { [Symbol.dispose]: () => void listeners.delete(listener) };
    },
    set(pair) {
      current = pair;
      listeners.forEach((l) => l());
    },
  };
}

/** Connects, verifying against `ca` as "localhost", writes "x" and resolves to the echo (or the TLS error). */
function probe(port: number, ca: string): Promise<{ ok: true; echoed: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, error: "timed out" });
    }, 5_000);
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca }, () => {
      socket.write("x");
      socket.once("data", (data) => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ ok: true, echoed: String(data) });
      });
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      resolve({ ok: false, error: error.message });
    });
  });
}

test("TlsProtocol with a certificate source answers a TLS alert until the first certificate, then serves and swaps it", async () => {
  const [first, second] = [await createTestCerts("Source CA 1"), await createTestCerts("Source CA 2")];
  const source = fakeSource();
  const protocol = new TlsProtocol({ server: { certificates: source } });
  await using listener = await protocol.listen({ hostname: "127.0.0.1", port: 0 });
  const current = () => listener.certificate; // read fresh: it changes under the listener
  assert.equal(current(), undefined);
  const handshakes: Promise<unknown>[] = [];
  const accepting = (async () => {
    for await (const incoming of listener) {
      handshakes.push(
        incoming.handshake({ timeoutMs: 5_000 }).then(async (conn) => {
          await conn.readable.pipeTo(conn.writable).catch(() => {});
        }, (error) => error),
      );
    }
  })();
  const started = Date.now();
  const early = await probe(listener.addr.port, first.caPem);
  assert.equal(early.ok, false);
  assert.match((early as { error: string }).error, /alert|internal/i);
  assert.ok(Date.now() - started < 4_000, "the client was answered, not left hanging");
  const refused = await handshakes[0];
  assert.ok(refused instanceof NetError);
  assert.equal(refused.code, "EHANDSHAKE");
  assert.match(refused.message, /no certificate is available yet \(the client got a TLS internal_error alert\)$/);

  source.set({ cert: first.certPem + first.caPem, key: first.keyPem });
  await waitFor(async () => (await probe(listener.addr.port, first.caPem)).ok || undefined, "the first certificate");
  assert.equal(current()?.subject, "CN=localhost");
  const serial = current()?.serialNumber;

  source.set({ cert: second.certPem + second.caPem, key: second.keyPem });
  await waitFor(async () => (await probe(listener.addr.port, second.caPem)).ok || undefined, "the second certificate");
  // The summary changes once the replaced runtime listener retired (200 ms of grace).
  await waitFor(() => current()?.serialNumber !== serial || undefined, "the new summary");
  listener.close();
  await accepting;
});

test("TlsProtocol rejects a certificate source beside certificate files, and one without the three methods", () => {
  assert.throws(
    () => new TlsProtocol({ server: { certificates: fakeSource(), certFile: "a.pem", keyFile: "a.key" } }),
    {
      name: "TypeError",
      message: 'Cannot create the tls protocol: set "server.certificates" or "server.certFile", not both',
    },
  );
  assert.throws(
    () =>
      new TlsProtocol({
        server: { certificates: { certificateFor: () => undefined } as unknown as TlsCertificateSource },
      }),
    {
      message:
        'Cannot create the tls protocol: "server.certificates" must have a defaultCertificate() method (an AutoManager\'s tlsConfig() has all three)',
    },
  );
});

test("Tunnel with protocol tls and autoTls forwards once its certificate source has a certificate", async () => {
  const certs = await testCerts();
  await using echo = await startEchoServer();
  const source = fakeSource();
  source.set({ cert: certs.certPem + certs.caPem, key: certs.keyPem });
  const tunnel = new Tunnel(
    { protocol: "tls", autoTls: true, listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}` },
    { certificates: source },
  );
  await tunnel.start();
  try {
    const answer = await probe(tunnel.addr!.port, certs.caPem);
    assert.deepEqual(answer, { ok: true, echoed: "x" });
  } finally {
    await tunnel.stop();
  }
  assert.throws(
    () => new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: "127.0.0.1:1" }, { certificates: source }),
    {
      message:
        "Cannot use options.certificates without TunnelConfig.autoTls: set autoTls: true to serve its certificates",
    },
  );
});
