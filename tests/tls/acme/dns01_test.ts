/**
 * DNS-01 against a real pebble: a wildcard and its apex on one certificate, the records written
 * through ChalltestsrvProvider and checked at challtestsrv's DNS before pebble is told to validate.
 */
import assert from "node:assert/strict";
import { AutoManager, ChalltestsrvProvider, type DnsProvider } from "../../../tls/mod.ts";
import { test } from "../../_util/test.ts";
import { pebbleMissing, startPebble } from "./_pebble.ts";
import { pebbleOptions, pebbleRoot, tempDir, tlsRoundTrip } from "./_setup.ts";

test("AutoManager obtains a wildcard plus apex certificate over DNS-01 and serves it by SNI", async () => {
  await using pebble = await startPebble();
  await using dir = await tempDir();
  const provider = new ChalltestsrvProvider({ baseUrl: pebble.challtestsrvUrl });
  const calls: string[] = [];
  const recording: DnsProvider = {
    name: provider.name,
    createTxtRecord: (
      fqdn,
      value,
      options,
    ) => (calls.push(`create ${fqdn}`), provider.createTxtRecord(fqdn, value, options)),
    removeTxtRecord: (
      fqdn,
      value,
      options,
    ) => (calls.push(`remove ${fqdn}`), provider.removeTxtRecord(fqdn, value, options)),
  };
  await using manager = new AutoManager(pebbleOptions(pebble, dir.path, {
    dnsProvider: recording,
    httpChallenge: false,
    dnsChallenge: { nameservers: [pebble.dnsServer], propagationTimeoutMs: 10_000, propagationIntervalMs: 100 },
  }));
  await manager.addDomains(["*.wild.example.com", "wild.example.com"], { sameCertificate: true });
  await manager.start();
  const info = await manager.ready("wild.example.com", { signal: AbortSignal.timeout(30_000) });
  assert.deepEqual([...info.domains].sort(), ["*.wild.example.com", "wild.example.com"]);
  assert.deepEqual(calls.sort(), [
    "create _acme-challenge.wild.example.com",
    "create _acme-challenge.wild.example.com",
    "remove _acme-challenge.wild.example.com",
    "remove _acme-challenge.wild.example.com",
  ]);

  // One label under the wildcard matches; the apex is its own name; two labels do not match.
  const pair = manager.certificateFor("wild.example.com");
  assert.ok(pair);
  assert.deepEqual(manager.certificateFor("a.wild.example.com"), pair);
  assert.equal(manager.certificateFor("a.b.wild.example.com"), undefined);
  assert.deepEqual(await manager.ready("x.wild.example.com"), info);

  const root = await pebbleRoot(pebble);
  for (const name of ["wild.example.com", "api.wild.example.com"]) {
    const seen = await tlsRoundTrip((sni) => manager.certificateFor(sni), name, root);
    assert.equal(seen.authorizationError, undefined);
    assert.equal(seen.authorized, true);
  }
}, { ignore: pebbleMissing, timeoutMs: 60_000 });
