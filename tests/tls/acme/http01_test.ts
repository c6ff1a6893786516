/**
 * HTTP-01 against a real pebble: two names, one certificate each, answered by the manager's own
 * HTTP-01 server on pebble's validation port; the served chain verifies against pebble's root.
 */
import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createServer } from "node:http";
import { AutoManager, type CertificateChangeEvent, type IssuedEvent, quickSetup } from "../../../tls/mod.ts";
import { test } from "../../_util/test.ts";
import { pebbleMissing, startPebble } from "./_pebble.ts";
import { pebbleOptions, pebbleRoot, tempDir, tlsRoundTrip } from "./_setup.ts";

test("AutoManager obtains certificates for two names over HTTP-01 and serves a chain that verifies", async () => {
  await using pebble = await startPebble();
  await using dir = await tempDir();
  const issued: IssuedEvent[] = [];
  const changes: CertificateChangeEvent[] = [];
  await using manager = new AutoManager(
    pebbleOptions(pebble, dir.path, { observer: { onIssued: (e) => issued.push(e) } }),
  );
  using _sub = manager.onCertificateChange((e) => changes.push(e));
  await manager.addDomains(["one.example.com", "Two.Example.com."]);
  assert.deepEqual(manager.domains, ["one.example.com", "two.example.com"]);
  await manager.start(); // returns before issuance
  assert.equal(manager.certificateFor("one.example.com"), undefined);
  const signal = AbortSignal.timeout(30_000);
  const [one, two] = await Promise.all([
    manager.ready("one.example.com", { signal }),
    manager.ready("two.example.com", { signal }),
  ]);
  assert.deepEqual(one.domains, ["one.example.com"]);
  assert.deepEqual(two.domains, ["two.example.com"]);
  assert.match(one.issuer, /Pebble Intermediate CA/);
  assert.deepEqual(issued.map((e) => [e.domains, e.renewal]).sort(), [[["one.example.com"], false], [[
    "two.example.com",
  ], false]]);
  assert.deepEqual(changes.map((e) => e.reason), ["issued", "issued"]);

  const status = manager.cacheStatus();
  assert.equal(status["one.example.com"].state, "valid");
  assert.equal(status["one.example.com"].lastError, undefined);
  assert.ok(status["one.example.com"].nextRenewal! > new Date());
  assert.deepEqual(manager.certificateFor("ONE.example.com."), manager.certificateFor("one.example.com"));
  assert.notEqual(manager.certificateFor("one.example.com")?.cert, manager.certificateFor("two.example.com")?.cert);
  assert.equal(manager.certificateFor("three.example.com"), undefined);

  const root = await pebbleRoot(pebble);
  for (const name of ["one.example.com", "two.example.com"]) {
    const seen = await tlsRoundTrip((sni) => manager.certificateFor(sni), name, root);
    assert.equal(seen.authorizationError, undefined);
    assert.equal(seen.authorized, true);
    assert.equal(seen.subjectAltName, `DNS:${name}`);
  }

  // Files 0600, folders 0700.
  const [caFolder] = await readdir(dir.path);
  const certDir = join(dir.path, caFolder, "certificates", "one.example.com");
  for (const file of ["cert.pem", "key.pem", "meta.json"]) {
    assert.equal((await stat(join(certDir, file))).mode & 0o777, 0o600);
  }
  for (const file of ["account.key", "account.json"]) {
    assert.equal((await stat(join(dir.path, caFolder, file))).mode & 0o777, 0o600);
  }
  for (const folder of [join(dir.path, caFolder), join(dir.path, caFolder, "certificates"), certDir]) {
    assert.equal((await stat(folder)).mode & 0o777, 0o700);
  }
}, { ignore: pebbleMissing, timeoutMs: 60_000 });

test(
  "quickSetup() with httpChallenge 'external' and RSA keys: an existing listener answers the challenge",
  async () => {
    await using pebble = await startPebble();
    await using dir = await tempDir();
    const seen: string[] = [];
    let manager: AutoManager | undefined;
    const server = createServer((request, response) => {
      const answer = manager?.handleHttpChallenge(request.url ?? "/");
      seen.push(`${request.url} ${answer === undefined ? 404 : 200}`);
      response.writeHead(answer === undefined ? 404 : 200, { "content-type": "text/plain" }).end(answer ?? "");
    });
    await new Promise<void>((resolve) => server.listen(pebble.httpPort, "127.0.0.1", resolve));
    try {
      const { email: _e, agreeTerms: _a, ...options } = pebbleOptions(pebble, dir.path, {
        httpChallenge: "external",
        keyType: "rsa",
      });
      manager = await quickSetup("ops@example.com", ["ext.example.com"], options);
      await using _closing = manager;
      const info = await manager.ready("ext.example.com", { signal: AbortSignal.timeout(30_000) });
      assert.deepEqual(info.domains, ["ext.example.com"]);
      const pair = manager.certificateFor("ext.example.com")!;
      assert.equal(new X509Certificate(pair.cert).publicKey.asymmetricKeyType, "rsa");
      assert.equal(createPrivateKey(pair.key).asymmetricKeyType, "rsa");
      assert.ok(seen.some((line) => /^\/\.well-known\/acme-challenge\/[\w-]+ 200$/.test(line)), seen.join("\n"));
      assert.equal(manager.handleHttpChallenge(seen[0].split(" ")[0]), undefined, "withdrawn after validation");
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  },
  { ignore: pebbleMissing, timeoutMs: 60_000 },
);
