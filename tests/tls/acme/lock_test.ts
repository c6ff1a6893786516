/**
 * Processes sharing a storage folder: the O_EXCL lock file (exclusive, times out, stale locks
 * taken over, released on dispose), and two managers on one folder against a real pebble, of
 * which exactly one orders the certificate while the other loads it.
 */
import assert from "node:assert/strict";
import { readdir, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  acquireFileLock,
  AutoManager,
  type CertificateChangeEvent,
  type IssuedEvent,
  LockTimeoutError,
} from "../../../tls/mod.ts";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runtimeName, test } from "../../_util/test.ts";
import { sleep, waitFor } from "../../_util/wait.ts";
import { pebbleMissing, startPebble } from "./_pebble.ts";
import { pebbleOptions, tempDir } from "./_setup.ts";

test("acquireFileLock() is exclusive, times out with LockTimeoutError, and releases on dispose", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "a.lock");
  {
    await using held = await acquireFileLock(path, { staleMs: 10_000 });
    assert.equal((await stat(held.path)).mode & 0o777, 0o600);
    await assert.rejects(acquireFileLock(path, { timeoutMs: 100, pollMs: 20 }), (error) => {
      assert.ok(error instanceof LockTimeoutError);
      assert.equal(error.message, `Cannot acquire lock "${path}": still held by another process after 100 ms`);
      return true;
    });
    // A waiter gets it as soon as it is released.
    const waiting = acquireFileLock(path, { timeoutMs: 5_000, pollMs: 20 });
    await sleep(50);
    await held.release();
    await (await waiting).release();
  }
  assert.deepEqual(await readdir(dir.path), []);
});

test("acquireFileLock() takes over a stale lock but not a fresh one, and a refreshed lock stays fresh", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "b.lock");
  await writeFile(path, "{}");
  const old = new Date(Date.now() - 60_000);
  await utimes(path, old, old); // its holder died a minute ago
  const taken = await acquireFileLock(path, { staleMs: 5_000, timeoutMs: 0 });
  // The holder refreshes every staleMs / 4: a lock held longer than staleMs is not stale.
  await taken.release();
  const holder = await acquireFileLock(path, { staleMs: 200 });
  await sleep(400);
  await assert.rejects(acquireFileLock(path, { staleMs: 200, timeoutMs: 0 }), LockTimeoutError);
  await holder.release();
  const aborted = new AbortController();
  aborted.abort(new Error("stop"));
  await assert.rejects(acquireFileLock(path, { signal: aborted.signal }), { message: "stop" });
});

test("two AutoManagers on one folder: one orders the certificate, the other loads it", async () => {
  await using pebble = await startPebble();
  await using dir = await tempDir();
  const issued: IssuedEvent[] = [];
  const changes: [string, CertificateChangeEvent][] = [];
  const make = (who: string) =>
    new AutoManager(
      pebbleOptions(pebble, dir.path, {
        observer: {
          onIssued: (e) => issued.push(e),
          onCertificateChange: (e) => changes.push([who, e]),
        },
      }),
    );
  await using a = make("a");
  await using b = make("b");
  await a.addDomains(["shared.example.com"]);
  await b.addDomains(["shared.example.com"]);
  await Promise.all([a.start(), b.start()]);
  const signal = AbortSignal.timeout(30_000);
  const [fromA, fromB] = await Promise.all([
    a.ready("shared.example.com", { signal }),
    b.ready("shared.example.com", { signal }),
  ]);
  assert.equal(issued.length, 1, "exactly one order");
  assert.equal(fromA.serialNumber, fromB.serialNumber);
  assert.equal(a.certificateFor("shared.example.com")?.cert, b.certificateFor("shared.example.com")?.cert);
  assert.deepEqual(changes.map(([, e]) => e.reason).sort(), ["issued", "loaded"]);
  assert.notEqual(changes[0][0], changes[1][0], "one event in each manager");
  const [caFolder] = await readdir(dir.path);
  assert.deepEqual(await readdir(join(dir.path, caFolder, "locks")), [], "every lock released");
}, { ignore: pebbleMissing, timeoutMs: 60_000 });

test("an AutoManager in another process and one here share a folder: exactly one order", async () => {
  await using pebble = await startPebble();
  await using dir = await tempDir();
  const options = pebbleOptions(pebble, dir.path);
  const script = fileURLToPath(new URL("./_child_manager.ts", import.meta.url));
  const args = runtimeName === "deno" ? ["run", "-A", script] : [script];
  const child = spawn(process.execPath, [...args, JSON.stringify({ ...options, domain: "multi.example.com" })], {
    cwd: fileURLToPath(new URL("../../../", import.meta.url)),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    await waitFor(() => stdout.includes("started") || child.exitCode !== null, "the other process", 20_000);
    let orderedHere = 0;
    await using here = new AutoManager({ ...options, observer: { onIssued: () => void orderedHere++ } });
    await here.addDomains(["multi.example.com"]);
    await here.start();
    const info = await here.ready("multi.example.com", { signal: AbortSignal.timeout(30_000) });
    const code = await Promise.race([exited, sleep(30_000).then(() => "timeout")]);
    assert.equal(code, 0, stderr);
    const there = JSON.parse(stdout.trim().split("\n").at(-1)!) as { serial: string; ordered: number };
    assert.equal(there.serial, info.serialNumber, "both serve the same certificate");
    assert.equal(orderedHere + there.ordered, 1, "exactly one of the two processes ordered it");
  } finally {
    if (child.exitCode === null && child.pid !== undefined) {
      process.kill(child.pid);
      await Promise.race([exited, sleep(5_000)]);
    }
  }
}, { ignore: pebbleMissing, timeoutMs: 60_000 });
