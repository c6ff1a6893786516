/** AutoManager without a CA: argument checks, CA selection, failures, removal and the HTTP-01 hook. */
import assert from "node:assert/strict";
import {
  AcmeError,
  AutoManager,
  type FailureEvent,
  LETS_ENCRYPT_PRODUCTION,
  LETS_ENCRYPT_STAGING,
  quickSetup,
  UnsupportedChallengeError,
  ZEROSSL_PRODUCTION,
} from "../../../tls/mod.ts";
import { HealthRegistry } from "../../../ha/health.ts";
import { runtimeName, test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { closedLoopbackPort, startServer } from "../../_util/echo_server.ts";
import { tempDir } from "./_setup.ts";

test("AutoManager rejects TLS-ALPN-01 on Deno, wildcards without DNS, and bad options with typed errors", async () => {
  if (runtimeName === "deno") {
    assert.throws(() => new AutoManager({ tlsAlpnChallenge: {} }), (error) => {
      assert.ok(error instanceof UnsupportedChallengeError);
      assert.equal(error.challenge, "tls-alpn-01");
      assert.equal(
        error.message,
        "Cannot answer tls-alpn-01 challenges: Deno's TLS rejects the challenge certificate " +
          "(critical acmeIdentifier extension); use http-01 or dns-01 (tls-alpn-01 works on Bun)",
      );
      return true;
    });
  } else {
    await new AutoManager({ tlsAlpnChallenge: "external" }).close(); // Bun answers TLS-ALPN-01
  }
  assert.throws(() => new AutoManager({ renewFraction: 1.5 }), {
    name: "RangeError",
    message: "Cannot create AutoManager as 'renewFraction' must be in (0, 1]: current value is 1.5",
  });
  assert.throws(() => new AutoManager({ directoryUrl: "ftp://ca.example/dir" }), {
    name: "TypeError",
    message: 'Cannot use ACME directory "ftp://ca.example/dir": expected an https URL',
  });
  await using manager = new AutoManager();
  await assert.rejects(manager.addDomains(["*.example.com"]), {
    name: "UnsupportedChallengeError",
    message: `Cannot answer a dns-01 challenge for "*.example.com": no DNS provider is configured (set 'dnsProvider')`,
  });
  await assert.rejects(manager.addDomains(["localhost"]), { name: "TypeError" });
  await using noChallenge = new AutoManager({ httpChallenge: false });
  await assert.rejects(noChallenge.addDomains(["a.example.com"]), {
    name: "UnsupportedChallengeError",
    message:
      'Cannot answer a http-01 challenge for "a.example.com": HTTP-01 is disabled and no DNS provider is configured',
  });
  assert.deepEqual(manager.domains, []);
});

test("AutoManager switches between Let's Encrypt, its staging CA, ZeroSSL and a custom directory before start()", async () => {
  await using dir = await tempDir();
  await using manager = new AutoManager({ storageDir: dir.path });
  assert.equal(manager.directoryUrl, LETS_ENCRYPT_PRODUCTION);
  manager.useStaging();
  assert.equal(manager.directoryUrl, LETS_ENCRYPT_STAGING);
  manager.useZeroSSL({ kid: "kid-1", hmacKey: "aGVsbG8" });
  assert.equal(manager.directoryUrl, ZEROSSL_PRODUCTION);
  manager.useDirectory("https://ca.internal:9000/acme/directory", { caBundle: "-----BEGIN CERTIFICATE-----" });
  assert.equal(manager.directoryUrl, "https://ca.internal:9000/acme/directory");
  manager.useProduction();
  await manager.start();
  assert.throws(() => manager.useStaging(), { message: "Cannot change the ACME directory after start()" });
});

test("AutoManager reports a failed first issuance through ready(), cacheStatus(), the observer and the health check", async () => {
  await using dir = await tempDir();
  const failures: FailureEvent[] = [];
  const health = new HealthRegistry();
  const port = await closedLoopbackPort();
  await using manager = new AutoManager({
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    storageDir: dir.path,
    agreeTerms: false, // fails before any request
    httpChallenge: "external",
    retry: { initialDelayMs: 60_000 },
    observer: { onFailure: (e) => failures.push(e) },
    health,
    healthCheck: { issueDeadlineMs: 60_000 },
  });
  await manager.addDomains(["fail.example.com"]);
  await manager.start();
  const expected =
    `Cannot register an ACME account for "fail.example.com": the CA's terms of service must be agreed to (set 'agreeTerms: true')`;
  await assert.rejects(manager.ready("fail.example.com", { signal: AbortSignal.timeout(10_000) }), (error) => {
    assert.ok(error instanceof AcmeError);
    assert.equal(error.operation, "account");
    assert.equal(error.message, expected);
    return true;
  });
  await waitFor(() => failures.length === 1, "the failure event");
  assert.deepEqual(failures[0].domains, ["fail.example.com"]);
  assert.equal(failures[0].attempt, 1);
  assert.equal(failures[0].retryInMs, 60_000);
  const status = manager.cacheStatus()["fail.example.com"];
  assert.equal(status.state, "pending");
  assert.equal(status.lastError, expected);
  assert.equal(status.failures, 1);
  assert.ok(status.nextRenewal && status.nextRenewal.getTime() > Date.now() + 50_000);
  const report = await health.run();
  assert.equal(report.status, "warn");
  assert.deepEqual(report.checks.map((c) => [c.name, c.readiness, c.detail]), [
    ["acme", false, `fail.example.com: certificate pending (last error: ${expected})`],
  ]);
  await manager.close();
  assert.deepEqual((await health.run()).checks, [], "unregistered on close");
  await assert.rejects(manager.start(), { message: "Cannot start: the manager is closed" });
});

test("AutoManager.removeDomains() stops managing names and rejects their waiters", async () => {
  await using dir = await tempDir();
  await using manager = new AutoManager({ storageDir: dir.path, httpChallenge: "external" });
  await manager.addDomains(["a.example.com", "b.example.com", "c.example.com"], { sameCertificate: true });
  await manager.addDomains(["a.example.com", "d.example.com"]); // a is already managed
  assert.deepEqual(manager.domains, ["a.example.com", "b.example.com", "c.example.com", "d.example.com"]);
  const waiting = manager.ready("d.example.com");
  manager.removeDomains(["d.example.com", "B.example.com", "unknown.example.com"]);
  await assert.rejects(waiting, { message: 'Cannot wait for "d.example.com": it is no longer managed' });
  assert.deepEqual(manager.domains, ["a.example.com", "c.example.com"]);
  assert.deepEqual(manager.cacheStatus()["c.example.com"].domains, ["a.example.com", "c.example.com"]);
  await assert.rejects(manager.ready("b.example.com"), {
    name: "TypeError",
    message: 'Cannot wait for "b.example.com": it is not managed',
  });
  assert.equal(manager.handleHttpChallenge("/.well-known/acme-challenge/nothing"), undefined);
  assert.equal(manager.handleHttpChallenge("/index.html"), undefined);
  assert.equal(manager.certificateFor("a.example.com"), undefined);
  assert.equal(manager.tlsConfig().defaultCertificate(), undefined);
});

test("AutoManager.close() aborts an ACME request in flight at once (no acme-client retries)", async () => {
  await using dir = await tempDir();
  let connected = 0;
  await using blackHole = await startServer(() => void connected++); // accepts, never answers
  const failures: FailureEvent[] = [];
  const manager = new AutoManager({
    directoryUrl: `https://127.0.0.1:${blackHole.port}/dir`,
    storageDir: dir.path,
    agreeTerms: true,
    httpChallenge: "external",
    observer: { onFailure: (e) => failures.push(e) },
  });
  await manager.addDomains(["hang.example.com"]);
  await manager.start();
  const waiting = manager.ready("hang.example.com");
  waiting.catch(() => {}); // rejected by close()
  await waitFor(() => connected > 0, "the request to the CA");
  const started = Date.now();
  await manager.close();
  assert.ok(Date.now() - started < 2_000, `close() took ${Date.now() - started} ms`);
  await assert.rejects(waiting);
  assert.deepEqual(failures, [], "a cancelled order is not a failure to retry");
});

test("quickSetup() closes the manager and rethrows when a name cannot be managed", async () => {
  await using dir = await tempDir();
  await assert.rejects(
    quickSetup("ops@example.com", ["*.example.com"], { storageDir: dir.path }),
    UnsupportedChallengeError,
  );
  await assert.rejects(quickSetup("ops@example.com", ["nodots"], { storageDir: dir.path }), TypeError);
});
