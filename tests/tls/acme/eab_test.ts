/**
 * External Account Binding (what ZeroSSL and Google Trust Services require), against a pebble
 * that requires it: registration fails without it and succeeds with it.
 */
import assert from "node:assert/strict";
import { AcmeError, AutoManager } from "../../../tls/mod.ts";
import { test } from "../../_util/test.ts";
import { pebbleMissing, startPebble } from "./_pebble.ts";
import { pebbleOptions, tempDir } from "./_setup.ts";

const HMAC_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

test("AutoManager registers with External Account Binding when the CA requires it", async () => {
  await using pebble = await startPebble({ externalAccountKeys: { "kid-1": HMAC_KEY } });
  {
    await using dir = await tempDir();
    await using without = new AutoManager(pebbleOptions(pebble, dir.path, { retry: { initialDelayMs: 60_000 } }));
    await without.addDomains(["eab.example.com"]);
    await without.start();
    await assert.rejects(without.ready("eab.example.com", { signal: AbortSignal.timeout(20_000) }), (error) => {
      assert.ok(error instanceof AcmeError);
      assert.equal(error.operation, "account");
      assert.equal(
        error.message,
        `Cannot register an ACME account for "eab.example.com": ACME server policy requires newAccount ` +
          "requests must include a value for the 'externalAccountBinding' field",
      );
      return true;
    });
  }
  await using dir = await tempDir();
  const { directoryUrl, caBundle, ...options } = pebbleOptions(pebble, dir.path);
  await using manager = new AutoManager(options);
  manager.useDirectory(directoryUrl!, { caBundle, externalAccountBinding: { kid: "kid-1", hmacKey: HMAC_KEY } });
  await manager.addDomains(["eab.example.com"]);
  await manager.start();
  const info = await manager.ready("eab.example.com", { signal: AbortSignal.timeout(20_000) });
  assert.deepEqual(info.domains, ["eab.example.com"]);
}, { ignore: pebbleMissing, timeoutMs: 60_000 });
