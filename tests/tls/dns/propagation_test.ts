import assert from "node:assert/strict";
import { findAuthoritativeNameservers, type NameserverLookup } from "../../../tls/dns/_nameservers.ts";
import { PropagationTimeoutError, waitForTxtRecord } from "../../../tls/dns/propagation.ts";
import { test } from "../../_util/test.ts";

/** A lookup over fixed NS and address tables; other names fail with `code`. */
function lookup(ns: Record<string, string[]>, addresses: Record<string, string[]>, code = "ENOTFOUND") {
  const asked: string[] = [];
  const fail = (name: string) => Promise.reject(Object.assign(new Error(`query ${code} ${name}`), { code }));
  const table: NameserverLookup = {
    resolveNs: (name) => (asked.push(`NS ${name}`), ns[name] ? Promise.resolve(ns[name]) : fail(name)),
    resolve4: (name) => (asked.push(`A ${name}`), addresses[name] ? Promise.resolve(addresses[name]) : fail(name)),
    resolve6: (
      name,
    ) => (asked.push(`AAAA ${name}`), addresses[`v6 ${name}`] ? Promise.resolve(addresses[`v6 ${name}`]) : fail(name)),
  };
  return { table, asked };
}

test("findAuthoritativeNameservers() walks up to the zone and resolves each nameserver", async () => {
  const { table, asked } = lookup(
    { "example.com": ["ns2.dns.net", "ns1.dns.net"] },
    { "ns1.dns.net": ["192.0.2.1", "192.0.2.11"], "v6 ns2.dns.net": ["2001:db8::2"] },
  );
  assert.deepEqual(await findAuthoritativeNameservers("_acme-challenge.www.example.com", table), [
    ["192.0.2.1", "192.0.2.11"],
    ["2001:db8::2"],
  ]);
  assert.deepEqual(asked, [
    "NS _acme-challenge.www.example.com",
    "NS www.example.com",
    "NS example.com",
    "A ns1.dns.net",
    "A ns2.dns.net",
    "AAAA ns2.dns.net",
  ]);
});

test("findAuthoritativeNameservers() fails when no parent has NS records, and passes other errors on", async () => {
  await assert.rejects(findAuthoritativeNameservers("_acme-challenge.example.com", lookup({}, {}, "ENODATA").table), {
    message: 'no NS records for "_acme-challenge.example.com" or any parent',
  });
  await assert.rejects(findAuthoritativeNameservers("_acme-challenge.example.com", lookup({}, {}, "ETIMEOUT").table), {
    message: "query ETIMEOUT _acme-challenge.example.com",
  });
  await assert.rejects(findAuthoritativeNameservers("a.example.com", lookup({ "a.example.com": ["ns.x"] }, {}).table), {
    message: 'none of the nameservers of "a.example.com" resolves: ns.x',
  });
});

test("waitForTxtRecord() validates its options and rejects at once on an aborted signal", async () => {
  await assert.rejects(waitForTxtRecord("_acme-challenge.example.com", "v", { intervalMs: 0 }), {
    name: "RangeError",
    message: "Cannot wait for a TXT record as 'intervalMs' must be positive: current value is 0",
  });
  await assert.rejects(waitForTxtRecord("_acme-challenge.example.com", "v", { timeoutMs: -1 }), {
    name: "RangeError",
    message: "Cannot wait for a TXT record as 'timeoutMs' must be >= 0: current value is -1",
  });
  await assert.rejects(waitForTxtRecord("example", "v"), { name: "TypeError" });
  const reason = new Error("stop");
  await assert.rejects(
    waitForTxtRecord("_acme-challenge.example.com", "v", { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
});

test("waitForTxtRecord() times out with what the nameserver last said", async () => {
  // Port 9 on loopback: nothing answers DNS there, so each query fails fast or times out.
  await assert.rejects(
    waitForTxtRecord("_acme-challenge.example.com", "v", {
      nameservers: ["127.0.0.1:9"],
      timeoutMs: 150,
      intervalMs: 50,
      queryTimeoutMs: 50,
    }),
    (error) => {
      assert.ok(error instanceof PropagationTimeoutError);
      assert.equal(error.fqdn, "_acme-challenge.example.com");
      assert.equal(error.timeoutMs, 150);
      assert.match(error.lastSeen, /^127\.0\.0\.1:9 answered "E[A-Z]+"$/);
      return true;
    },
  );
});

test("waitForTxtRecord() stops mid-wait when the signal aborts, with its reason", async () => {
  const controller = new AbortController();
  const reason = new Error("shutting down");
  setTimeout(() => controller.abort(reason), 60);
  const started = Date.now();
  await assert.rejects(
    waitForTxtRecord("_acme-challenge.example.com", "v", {
      nameservers: ["127.0.0.1:9"],
      timeoutMs: 60_000,
      intervalMs: 20,
      queryTimeoutMs: 30_000,
      signal: controller.signal,
    }),
    (error) => error === reason,
  );
  assert.ok(Date.now() - started < 5_000);
});
