import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { libcUnavailableReason, loadLibc } from "../../ffi/mod.ts";
import { test } from "../_util/test.ts";

test("loadLibc() loads once and reports no reason when it succeeds", async () => {
  const first = loadLibc();
  assert.equal(loadLibc(), first, "one load per process");
  assert.ok(await first);
  assert.equal(libcUnavailableReason(), undefined);
});

test(
  "without --allow-ffi, loadLibc() resolves undefined with the reason and optimizeTcpConn() resolves false",
  async () => {
    const fixture = fileURLToPath(new URL("./_no_ffi_fixture.ts", import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      // --deny-ffi: Deno's node:child_process grants a Deno child every permission unless told otherwise.
      execFile(
        process.execPath,
        ["run", "--no-prompt", "--deny-ffi", fixture],
        { timeout: 30_000 },
        (error, out, err) => {
          if (error) reject(new Error(`${error.message}\n${err}`));
          else resolve(out);
        },
      );
    });
    assert.deepEqual(JSON.parse(stdout), {
      loaded: false,
      reason: "FFI permission not granted: run Deno with --allow-ffi",
      optimized: false,
    });
  },
  { ignore: "Bun" in globalThis && "Bun has no permission model" },
);
