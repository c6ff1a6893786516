/**
 * TLS-ALPN-01 against a real pebble, on Bun: the manager's own `node:tls` server answers on
 * pebble's TLS validation port. Deno's TLS rejects the challenge certificate (the manager says so
 * with an UnsupportedChallengeError; see manager_test.ts).
 */
import assert from "node:assert/strict";
import { AutoManager, tlsAlpnSupported } from "../../../tls/mod.ts";
import { runtimeName, test } from "../../_util/test.ts";
import { pebbleMissing, startPebble } from "./_pebble.ts";
import { pebbleOptions, pebbleRoot, tempDir, tlsRoundTrip } from "./_setup.ts";

test("tlsAlpnSupported() is true on Bun and false on Deno", () => {
  assert.equal(tlsAlpnSupported(), runtimeName === "bun");
});

test("AutoManager obtains a certificate over TLS-ALPN-01 on Bun", async () => {
  await using pebble = await startPebble();
  await using dir = await tempDir();
  await using manager = new AutoManager(pebbleOptions(pebble, dir.path, {
    httpChallenge: false,
    tlsAlpnChallenge: { hostname: "127.0.0.1", port: pebble.tlsPort },
  }));
  await manager.addDomains(["alpn.example.com"]);
  await manager.start();
  const info = await manager.ready("alpn.example.com", { signal: AbortSignal.timeout(30_000) });
  assert.deepEqual(info.domains, ["alpn.example.com"]);
  assert.equal(manager.handleTlsAlpnChallenge("alpn.example.com"), undefined, "withdrawn after validation");
  const seen = await tlsRoundTrip((sni) => manager.certificateFor(sni), "alpn.example.com", await pebbleRoot(pebble));
  assert.equal(seen.authorized, true);
}, {
  ignore: runtimeName === "deno"
    ? "Deno's TLS rejects the TLS-ALPN-01 challenge certificate (critical acmeIdentifier extension)"
    : pebbleMissing,
  timeoutMs: 60_000,
});
