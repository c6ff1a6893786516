/** Revocation against a real pebble: the CA marks the certificate revoked, and a new one replaces it. */
import assert from "node:assert/strict";
import { AcmeError, AutoManager, type CertificateChangeEvent, CertificateStorage } from "../../../tls/mod.ts";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { pebbleMissing, startPebble } from "./_pebble.ts";
import { pebbleOptions, tempDir } from "./_setup.ts";

test("AutoManager.revoke() revokes at the CA, drops the certificate and orders a new one", async () => {
  await using pebble = await startPebble();
  await using dir = await tempDir();
  const changes: CertificateChangeEvent[] = [];
  await using manager = new AutoManager(pebbleOptions(pebble, dir.path));
  using _sub = manager.onCertificateChange((e) => changes.push(e));
  await manager.addDomains(["revoke.example.com", "keep.example.com"]);
  await manager.start();
  const signal = AbortSignal.timeout(30_000);
  const [first] = await Promise.all(
    ["revoke.example.com", "keep.example.com"].map((d) => manager.ready(d, { signal })),
  );

  await manager.revoke("revoke.example.com", { reason: 4 }); // superseded
  const status = JSON.parse((await pebble.management(`/cert-status-by-serial/${first.serialNumber}`)).body);
  assert.equal(status.Status, "Revoked");
  assert.equal(status.Reason, 4);
  assert.ok(changes.some((e) => e.reason === "revoked" && e.certificate === undefined));

  const reissued = await waitFor(
    () =>
      changes.find((e) =>
        e.reason === "issued" && e.domains[0] === "revoke.example.com" &&
        e.certificate!.info.serialNumber !== first.serialNumber
      ),
    "a new certificate",
    20_000,
  );
  assert.equal(manager.certificateFor("revoke.example.com")?.cert, reissued.certificate!.cert);
  const fresh = JSON.parse(
    (await pebble.management(`/cert-status-by-serial/${reissued.certificate!.info.serialNumber}`)).body,
  );
  assert.equal(fresh.Status, "Valid");

  // Without reissue, the name stays without a certificate; revoking again finds nothing stored.
  await manager.revoke("keep.example.com", { reissue: false });
  assert.equal(manager.certificateFor("keep.example.com"), undefined);
  assert.equal(
    await new CertificateStorage(dir.path, pebble.directoryUrl).loadCertificate("keep.example.com"),
    undefined,
  );
  await assert.rejects(manager.revoke("keep.example.com"), (error) => {
    assert.ok(error instanceof AcmeError);
    assert.equal(error.operation, "revoke");
    assert.equal(error.message, 'Cannot revoke the certificate for "keep.example.com": no certificate is stored');
    return true;
  });
  await assert.rejects(manager.revoke("other.example.com"), {
    name: "TypeError",
    message: 'Cannot revoke "other.example.com": it is not managed',
  });
}, { ignore: pebbleMissing, timeoutMs: 60_000 });
