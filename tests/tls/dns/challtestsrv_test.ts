/**
 * ChalltestsrvProvider against a fake management API, then the provider and waitForTxtRecord()
 * against a real pebble-challtestsrv (skipped when it is not installed).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { ChalltestsrvProvider } from "../../../tls/dns/challtestsrv.ts";
import { PropagationTimeoutError, waitForTxtRecord } from "../../../tls/dns/propagation.ts";
import { DnsProviderError } from "../../../tls/dns/provider.ts";
import { test } from "../../_util/test.ts";
import { fakeVendor } from "./_fake_vendor.ts";

const BINARY = "pebble-challtestsrv";
const binaryPath = (process.env.PATH ?? "").split(":").map((dir) => join(dir, BINARY)).find((p) => existsSync(p));

test("ChalltestsrvProvider posts set-txt, and clear-txt then set-txt of the values it keeps", async () => {
  await using vendor = await fakeVendor(() => ({ status: 200 }));
  const dns = new ChalltestsrvProvider({ baseUrl: vendor.origin });
  await dns.createTxtRecord("_acme-challenge.example.com", "a");
  await dns.createTxtRecord("_acme-challenge.example.com", "b");
  await dns.removeTxtRecord("_acme-challenge.example.com", "a");
  assert.deepEqual(vendor.requests.map((r) => `${r.method} ${r.url} ${r.body}`), [
    'POST /set-txt {"host":"_acme-challenge.example.com.","value":"a"}',
    'POST /set-txt {"host":"_acme-challenge.example.com.","value":"b"}',
    'POST /clear-txt {"host":"_acme-challenge.example.com."}',
    'POST /set-txt {"host":"_acme-challenge.example.com.","value":"b"}',
  ]);
  assert.equal(vendor.requests[0].headers["content-type"], "application/json");
});

test("ChalltestsrvProvider maps a 400 to DnsProviderError with challtestsrv's text", async () => {
  await using vendor = await fakeVendor(() => ({
    status: 400,
    body: "host field must be a fully qualified domain name\n",
  }));
  const dns = new ChalltestsrvProvider({ baseUrl: vendor.origin });
  await assert.rejects(dns.createTxtRecord("_acme-challenge.example.com", "a"), (error) => {
    assert.ok(error instanceof DnsProviderError);
    assert.equal(
      error.message,
      'Cannot create TXT record "_acme-challenge.example.com" with challtestsrv: HTTP 400: ' +
        "host field must be a fully qualified domain name",
    );
    return true;
  });
});

/** A loopback port free for both TCP and UDP at the time of asking. */
async function freePort(udpToo: boolean): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!udpToo) return port;
    const socket = createSocket("udp4");
    const free = await new Promise<boolean>((resolve) => {
      socket.once("error", () => resolve(false));
      socket.bind(port, "127.0.0.1", () => resolve(true));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    if (free) return port;
  }
  throw new Error("no free port pair found in 10 attempts");
}

/** Starts pebble-challtestsrv on free ports and waits until its management API answers. */
async function startChalltestsrv(path: string) {
  const dnsPort = await freePort(true);
  const managementPort = await freePort(false);
  const child: ChildProcess = spawn(path, [
    "-dns01",
    `127.0.0.1:${dnsPort}`,
    "-management",
    `127.0.0.1:${managementPort}`,
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (chunk: Uint8Array) => (log += new TextDecoder().decode(chunk)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  const baseUrl = `http://127.0.0.1:${managementPort}`;
  for (let i = 0;; i++) {
    if (child.exitCode !== null) throw new Error(`${BINARY} exited early: ${log}`);
    try {
      const res = await fetch(`${baseUrl}/clear-txt`, { method: "POST", body: '{"host":"warmup.example.com."}' });
      await res.body?.cancel();
      break;
    } catch (error) {
      if (i >= 100) {
        await stop();
        throw new Error(`${BINARY} did not answer within 5 s: ${log}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { baseUrl, nameserver: `127.0.0.1:${dnsPort}`, [Symbol.asyncDispose]: stop };
}

test(
  "ChalltestsrvProvider and waitForTxtRecord() against a real pebble-challtestsrv",
  async () => {
    await using server = await startChalltestsrv(binaryPath!);
    const dns = new ChalltestsrvProvider({ baseUrl: server.baseUrl });
    const fqdn = "_acme-challenge.test1.example.com";
    const fast = { nameservers: [server.nameserver], intervalMs: 25, queryTimeoutMs: 500 };

    // A record set a little later is picked up by polling.
    const later = setTimeout(() => dns.createTxtRecord(fqdn, "apex-digest").catch(() => {}), 150);
    try {
      await waitForTxtRecord(fqdn, "apex-digest", { ...fast, timeoutMs: 5_000 });
    } finally {
      clearTimeout(later);
    }
    await dns.createTxtRecord(fqdn, "wildcard-digest");
    await waitForTxtRecord(fqdn, "wildcard-digest", { ...fast, timeoutMs: 5_000 });

    // Removing one value keeps the other.
    await dns.removeTxtRecord(fqdn, "apex-digest");
    await waitForTxtRecord(fqdn, "wildcard-digest", { ...fast, timeoutMs: 5_000 });
    await assert.rejects(waitForTxtRecord(fqdn, "apex-digest", { ...fast, timeoutMs: 200 }), (error) => {
      assert.ok(error instanceof PropagationTimeoutError);
      assert.equal(error.lastSeen, `${server.nameserver} answered ["wildcard-digest"]`);
      return true;
    });

    // Removing the last value leaves no record at all.
    await dns.removeTxtRecord(fqdn, "wildcard-digest");
    await assert.rejects(waitForTxtRecord(fqdn, "wildcard-digest", { ...fast, timeoutMs: 200 }), (error) => {
      assert.ok(error instanceof PropagationTimeoutError);
      assert.equal(error.lastSeen, `${server.nameserver} answered "ENOTFOUND"`);
      return true;
    });
  },
  { ignore: binaryPath ? false : `${BINARY} is not installed (not found on PATH)` },
);
