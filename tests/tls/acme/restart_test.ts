/**
 * A restart loads the stored certificate without the CA: pebble is stopped before a second
 * manager starts on the same folder, and the certificate is served at once.
 */
import assert from "node:assert/strict";
import { AutoManager, type CertificateChangeEvent, type FailureEvent } from "../../../tls/mod.ts";
import { test } from "../../_util/test.ts";
import { sleep } from "../../_util/wait.ts";
import { pebbleMissing, startPebble } from "./_pebble.ts";
import { pebbleOptions, tempDir } from "./_setup.ts";

test("AutoManager.start() serves the stored certificate after a restart without contacting the CA", async () => {
  await using pebble = await startPebble();
  await using dir = await tempDir();
  const options = pebbleOptions(pebble, dir.path);
  let first;
  {
    await using manager = new AutoManager(options);
    await manager.addDomains(["restart.example.com"]);
    await manager.start();
    first = await manager.ready("restart.example.com", { signal: AbortSignal.timeout(30_000) });
  }
  await pebble.stopPebble();

  const changes: CertificateChangeEvent[] = [];
  const failures: FailureEvent[] = [];
  await using again = new AutoManager({ ...options, observer: { onFailure: (e) => failures.push(e) } });
  using _sub = again.onCertificateChange((e) => changes.push(e));
  await again.addDomains(["restart.example.com"]);
  await again.start();
  // Served as soon as start() resolves: loaded from disk, nothing ordered.
  const pair = again.certificateFor("restart.example.com");
  assert.ok(pair);
  assert.deepEqual(changes.map((e) => [e.reason, e.certificate?.info.serialNumber]), [["loaded", first.serialNumber]]);
  const status = again.cacheStatus()["restart.example.com"];
  assert.equal(status.state, "valid");
  assert.equal(status.serialNumber, first.serialNumber);
  assert.equal(status.nextRenewal?.getTime(), first.notBefore + Math.floor((first.notAfter - first.notBefore) * 2 / 3));
  assert.deepEqual(await again.ready("restart.example.com"), first);
  await sleep(200);
  assert.deepEqual(failures, []);

  // load() reads the same without scheduling anything (what `ts-tunnel cert status` needs).
  await using reader = new AutoManager(options);
  await reader.addDomains(["restart.example.com"]);
  await reader.load();
  const read = reader.cacheStatus()["restart.example.com"];
  assert.equal(read.serialNumber, first.serialNumber);
  assert.equal(read.nextRenewal, undefined);
}, { ignore: pebbleMissing, timeoutMs: 60_000 });
