/**
 * Renewal against a real pebble: forced by short-lived certificates (pebble's
 * `certificateValidityPeriod`), and driven by an injected clock at two thirds of the lifetime.
 */
import assert from "node:assert/strict";
import { AutoManager, type CertificateChangeEvent, type IssuedEvent, readCertificateInfo } from "../../../tls/mod.ts";
import { CertificateStorage } from "../../../tls/mod.ts";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { FakeClock } from "./_fake_clock.ts";
import { pebbleMissing, startPebble } from "./_pebble.ts";
import { pebbleOptions, tempDir } from "./_setup.ts";

test("AutoManager renews a short-lived certificate at two thirds of its lifetime", async () => {
  await using pebble = await startPebble({ validitySeconds: 4 }); // 3 s of validity: renewal 2 s after notBefore
  await using dir = await tempDir();
  const issued: IssuedEvent[] = [];
  const changes: CertificateChangeEvent[] = [];
  await using manager = new AutoManager(
    pebbleOptions(pebble, dir.path, { observer: { onIssued: (e) => issued.push(e) } }),
  );
  using _sub = manager.onCertificateChange((e) => changes.push(e));
  await manager.addDomains(["short.example.com"]);
  await manager.start();
  const first = await manager.ready("short.example.com", { signal: AbortSignal.timeout(30_000) });
  assert.ok(first.notAfter - first.notBefore <= 4_000);
  const renewed = await waitFor(() => changes.find((e) => e.reason === "renewed"), "a renewal", 15_000);
  const second = renewed.certificate!.info;
  assert.notEqual(second.serialNumber, first.serialNumber);
  assert.ok(second.notAfter > first.notAfter);
  assert.deepEqual(issued.slice(0, 2).map((e) => e.renewal), [false, true]);
  assert.equal(manager.certificateFor("short.example.com")?.cert, renewed.certificate!.cert);
  const status = manager.cacheStatus()["short.example.com"];
  assert.ok(status.lastRenewal!.getTime() >= second.notBefore);
  // The renewed certificate is what storage holds.
  const stored = await new CertificateStorage(dir.path, pebble.directoryUrl).loadCertificate("short.example.com");
  assert.ok(stored && stored.info.notAfter >= second.notAfter);
}, { ignore: pebbleMissing, timeoutMs: 60_000 });

test("AutoManager renews when an injected clock reaches two thirds of the lifetime, not before", async () => {
  await using pebble = await startPebble();
  await using dir = await tempDir();
  const clock = new FakeClock(Date.now());
  const issued: IssuedEvent[] = [];
  await using manager = new AutoManager(
    pebbleOptions(pebble, dir.path, { clock, observer: { onIssued: (e) => issued.push(e) } }),
  );
  await manager.addDomains(["clock.example.com"]);
  await manager.start();
  await clock.advance(0); // the first issuance is due now
  const first = await manager.ready("clock.example.com", { signal: AbortSignal.timeout(30_000) });
  const renewAt = first.notBefore + Math.floor((first.notAfter - first.notBefore) * 2 / 3);
  assert.equal(manager.cacheStatus()["clock.example.com"].nextRenewal?.getTime(), renewAt);
  await clock.advance(renewAt - clock.now() - 1_000);
  assert.equal(issued.length, 1, "no renewal before two thirds of the lifetime");
  await clock.advance(1_000);
  await waitFor(() => issued.length === 2, "the renewal", 20_000);
  assert.equal(issued[1].renewal, true);
  const renewed = readCertificateInfo(manager.certificateFor("clock.example.com")!.cert);
  assert.notEqual(renewed.serialNumber, first.serialNumber);
}, { ignore: pebbleMissing, timeoutMs: 60_000 });
