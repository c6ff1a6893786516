/**
 * Automatic TLS from the command line: `-auto-tls` against pebble (HTTP-01 through
 * pebble-challtestsrv's DNS), the `cert status|renew|revoke` commands on the same store, the admin
 * server's health check and metrics, and the exact flag errors.
 */
import assert from "node:assert/strict";
import http from "node:http";
import tls from "node:tls";
import { main } from "../../cli.ts";
import { captureIo, startWithAdmin } from "../_util/admin.ts";
import { startEchoServer } from "../_util/echo_server.ts";
import { testCerts } from "../_util/certs.ts";
import { test } from "../_util/test.ts";
import { sleep, waitFor } from "../_util/wait.ts";
import { pebbleMissing, startPebble } from "./acme/_pebble.ts";
import { pebbleRoot, tempDir } from "./acme/_setup.ts";

/** Connects to 127.0.0.1:port with SNI `servername`, trusting only `root`; resolves to the echo and the serial. */
function verifiedEcho(port: number, servername: string, root: string): Promise<{ echoed: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("TLS round trip timed out"));
    }, 5_000);
    const socket = tls.connect({ host: "127.0.0.1", port, servername, ca: root }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toLowerCase();
      socket.write("auto");
      socket.once("data", (data) => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ echoed: String(data), serial });
      });
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function cert(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(["cert", ...args], { io });
  return { code, out: io.out, err: io.err };
}

test(
  "main() -auto-tls obtains a certificate from pebble and serves it; cert status, renew and revoke work on its store",
  async () => {
    await using pebble = await startPebble();
    await using dir = await tempDir();
    await using echo = await startEchoServer();
    const root = await pebbleRoot(pebble);
    const acme = [
      "--acme-directory",
      pebble.directoryUrl,
      "--acme-ca",
      (await testCerts()).caFile,
      "--acme-http",
      `127.0.0.1:${pebble.httpPort}`,
      "--cert-dir",
      dir.path,
    ];
    const run = await startWithAdmin([
      "-protocol",
      "tls",
      "-listen",
      "127.0.0.1:0",
      "-target",
      `127.0.0.1:${echo.port}`,
      "-auto-tls",
      "-email",
      "a@b.c",
      "-domains",
      "test1.example.com",
      ...acme,
    ]);
    let firstSerial: string;
    try {
      const [port] = run.ports;
      assert.ok(port > 0, run.io.err);
      // Startup did not wait for the CA; the listener answers once the certificate is issued.
      const seen = await waitFor(
        () => verifiedEcho(port, "test1.example.com", root).catch(() => sleep(100).then(() => undefined)),
        "a verified TLS round trip",
        30_000,
      );
      assert.equal(seen.echoed, "auto");
      firstSerial = seen.serial;
      assert.match(run.io.err, /certificate issued domains=test1\.example\.com/);
      const health = await (await fetch(`http://127.0.0.1:${run.adminPort}/health`)).json();
      const check = health.checks.find((c: { name: string }) => c.name === "acme");
      assert.equal(check?.status, "pass", JSON.stringify(health));
      const metrics = await (await fetch(`http://127.0.0.1:${run.adminPort}/metrics`)).text();
      assert.match(metrics, /ts_tunnel_cert_expiry_seconds\{domain="test1\.example\.com"\} \d+/);
      assert.match(metrics, /ts_tunnel_cert_renewals_total\{domain="test1\.example\.com"\} 1/);
      const status = await (await fetch(`http://127.0.0.1:${run.adminPort}/status`)).json();
      assert.equal(status.certificates["test1.example.com"].state, "valid");
    } finally {
      assert.equal(await run.stop(), 0);
    }
    assert.match(run.io.err, /stopped tunnel="tls 127\.0\.0\.1:/);

    const status = await cert(["status", "--cert-dir", dir.path, "--acme-directory", pebble.directoryUrl]);
    assert.equal(status.code, 0, status.err);
    assert.match(
      status.out,
      /^test1\.example\.com: valid, issuer "CN=Pebble Intermediate CA [0-9a-f]+", not after \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ days left\), last renewal \d{4}-[\d\-T:.]+Z, last error: none$/m,
    );
    const json = JSON.parse(
      (await cert(["status", "-json", "-cert-dir", dir.path, "-acme-directory", pebble.directoryUrl])).out,
    );
    assert.equal(json.domains[0].serialNumber, firstSerial);

    const renewed = await cert(["renew", ...acme]);
    assert.equal(renewed.code, 0, renewed.err);
    assert.match(renewed.err, /^renewed test1\.example\.com: not after /m);
    const after = JSON.parse(
      (await cert(["status", "-json", "-cert-dir", dir.path, "-acme-directory", pebble.directoryUrl])).out,
    );
    assert.notEqual(after.domains[0].serialNumber, firstSerial);

    const revoked = await cert(["revoke", "test1.example.com", ...acme]);
    assert.equal(revoked.code, 0, revoked.err);
    assert.match(revoked.out, /^revoked the certificate of test1\.example\.com \(serial [0-9a-f]+\)$/m);
    const gone = await cert([
      "status",
      "-domains",
      "test1.example.com",
      "-cert-dir",
      dir.path,
      "-acme-directory",
      pebble.directoryUrl,
    ]);
    assert.match(gone.out, /^test1\.example\.com: no certificate, last error: none$/m);
  },
  { ignore: pebbleMissing, timeoutMs: 90_000 },
);

test("cert status shows the last error a forwarder recorded when the CA refuses", async () => {
  await using dir = await tempDir();
  await using echo = await startEchoServer();
  // Not an ACME server: the directory request fails at once (an unreachable CA is retried for a minute).
  const notAcme = http.createServer((_request, response) => {
    response.statusCode = 404;
    response.end("not an ACME server\n");
  });
  await new Promise<void>((resolve) => notAcme.listen(0, "127.0.0.1", resolve));
  await using _notAcme = {
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => notAcme.close(() => resolve())),
  };
  const directory = `http://127.0.0.1:${(notAcme.address() as { port: number }).port}/dir`;
  const io = captureIo();
  const stop = new AbortController();
  const exit = main([
    "-protocol",
    "tls",
    "-listen",
    "127.0.0.1:0",
    "-target",
    `127.0.0.1:${echo.port}`,
    "-auto-tls",
    "-email",
    "a@b.c",
    "-domains",
    "down.example.com",
    "-acme-directory",
    directory,
    "-acme-http",
    "127.0.0.1:0",
    "-cert-dir",
    dir.path,
    "-status",
    "off",
  ], { io, signal: stop.signal });
  try {
    await waitFor(
      () => /cannot obtain the certificate; retrying domains=down\.example\.com/.test(io.err) || undefined,
      "a failure",
    );
    const port = Number(/listening .*addr=127\.0\.0\.1:(\d+)/.exec(io.err)?.[1]);
    // No certificate yet: the client gets a TLS alert at once (not a hang).
    await assert.rejects(verifiedEcho(port, "down.example.com", (await testCerts()).caPem), /alert|internal/i);
  } finally {
    stop.abort();
  }
  assert.equal(await exit, 0);
  const status = await cert(["status", "-cert-dir", dir.path, "-acme-directory", directory]);
  assert.equal(status.code, 0, status.err);
  assert.match(
    status.out,
    /^down\.example\.com: no certificate, last error: Cannot register an ACME account for "down\.example\.com": .*404.* \(at \d{4}-[\d\-T:.]+Z\)$/m,
  );
  assert.doesNotMatch(status.out, /last error: none/);
});

test("main() rejects automatic TLS flags that do not fit with the flag, the value and the fix", async () => {
  const tlsBase = ["-protocol", "tls", "-target", "127.0.0.1:80"];
  const cases: [string[], string][] = [
    [
      [...tlsBase, "-auto-tls", "-domains", "a.example.com"],
      `Flag "-auto-tls" needs -email ADDRESS (the ACME account's contact, for expiry notices)\n`,
    ],
    [
      [...tlsBase, "-auto-tls", "-email", "a@b.c"],
      'Flag "-auto-tls" needs -domains NAME[,NAME...] (the names the certificate covers)\n',
    ],
    [
      [...tlsBase, "-auto-tls", "-email", "a@b.c", "-domains", "a.example.com", "-cert", "c.pem", "-key", "k.pem"],
      'Flag "-cert" cannot be combined with -auto-tls: the certificate comes from ACME; remove -cert and -key, or -auto-tls\n',
    ],
    [
      [...tlsBase, "-email", "a@b.c", "-cert", "c", "-key", "k"],
      'Flag "-email" applies to automatic TLS: add -auto-tls\n',
    ],
    [
      ["-target", "127.0.0.1:80", "-auto-tls", "-email", "a@b.c", "-domains", "a.example.com"],
      'Flag "-auto-tls" applies to a TLS listener: add -protocol tls (or -protocol http2)\n',
    ],
    [
      [...tlsBase, "-auto-tls", "-email", "a@b.c", "-domains", "*.example.com"],
      'Flag "-domains": "*.example.com" is a wildcard, which needs DNS-01: add -dns-provider NAME\n',
    ],
    [
      [...tlsBase, "-auto-tls", "-email", "a@b.c", "-domains", "a.example.com,,b.example.com"],
      'Flag "-domains" cannot be "a.example.com,,b.example.com": list names separated by commas, e.g. example.com,www.example.com\n',
    ],
    [
      [
        ...tlsBase,
        "-auto-tls",
        "-email",
        "a@b.c",
        "-domains",
        "a.example.com",
        "-staging",
        "-acme-directory",
        "https://ca/d",
      ],
      `Flag "-staging" cannot be combined with -acme-directory: use Let's Encrypt's staging CA or your own directory\n`,
    ],
    [
      [...tlsBase, "-auto-tls", "-email", "a@b.c", "-domains", "a.example.com", "-acme-ca", "ca.pem"],
      `Flag "-acme-ca" applies to -acme-directory (a private CA's ACME server): add it, or remove -acme-ca\n`,
    ],
    [
      [...tlsBase, "-auto-tls", "-email", "a@b.c", "-domains", "a.example.com", "-acme-http", "off"],
      'Flag "-acme-http off" needs -dns-provider NAME: without HTTP-01, only DNS-01 can prove the names\n',
    ],
    [
      [...tlsBase, "-auto-tls", "-email", "a@b.c", "-domains", "a.example.com", "-acme-http", "80"],
      'Flag "-acme-http": Cannot parse listen address "80": expected "host:port", for example "127.0.0.1:8080"; or use external or off\n',
    ],
    [
      ["cert"],
      "Missing the cert command: use one of status, renew, revoke, e.g. ts-tunnel cert status -cert-dir DIR\n",
    ],
    [["cert", "show"], 'Unknown cert command "show": use one of status, renew, revoke\n'],
    [["cert", "revoke"], "Missing the domain: use ts-tunnel cert revoke DOMAIN [flags]\n"],
  ];
  for (const [args, message] of cases) {
    const io = captureIo();
    assert.equal(await main(args, { io }), 2, args.join(" "));
    assert.equal(io.err, message);
  }
  // The DNS provider is configured from the environment when the listener starts.
  await using dir = await tempDir();
  const io = captureIo();
  const code = await main([
    ...tlsBase,
    "-listen",
    "127.0.0.1:0",
    "-auto-tls",
    "-email",
    "a@b.c",
    "-domains",
    "*.example.com",
    "-dns-provider",
    "cloudflare",
    "-cert-dir",
    dir.path,
    "-status",
    "off",
  ], { io, env: {} });
  assert.equal(code, 2);
  assert.match(
    io.err,
    /^Cannot set up automatic TLS: Cannot configure DNS provider "cloudflare": set CLOUDFLARE_API_TOKEN/,
  );
});
