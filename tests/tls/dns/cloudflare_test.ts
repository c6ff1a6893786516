import assert from "node:assert/strict";
import { CloudflareProvider } from "../../../tls/dns/cloudflare.ts";
import { DnsProviderError } from "../../../tls/dns/provider.ts";
import { test } from "../../_util/test.ts";
import { fakeVendor, lines, type Recorded, type Reply } from "./_fake_vendor.ts";

const FQDN = "_acme-challenge.www.example.com";

/** Cloudflare with one zone, example.com (id z1), and record ids r1, r2, … */
function cloudflare() {
  const records: { id: string; name: string; content: string }[] = [];
  return (req: Recorded): Reply => {
    const url = new URL(req.url, "http://x");
    if (req.method === "GET" && url.pathname === "/client/v4/zones") {
      const name = url.searchParams.get("name");
      return { body: { success: true, errors: [], result: name === "example.com" ? [{ id: "z1", name }] : [] } };
    }
    if (req.method === "POST" && url.pathname === "/client/v4/zones/z1/dns_records") {
      const { name, content } = JSON.parse(req.body);
      const record = { id: `r${records.length + 1}`, name, content };
      records.push(record);
      return { body: { success: true, errors: [], result: record } };
    }
    if (req.method === "GET" && url.pathname === "/client/v4/zones/z1/dns_records") {
      return {
        body: { success: true, errors: [], result: records.filter((r) => r.name === url.searchParams.get("name")) },
      };
    }
    if (req.method === "DELETE" && url.pathname.startsWith("/client/v4/zones/z1/dns_records/")) {
      return { body: { success: true, errors: [], result: { id: url.pathname.split("/").pop() } } };
    }
    return { status: 404, body: { success: false, errors: [{ code: 7003, message: "No route for that URI" }] } };
  };
}

test("CloudflareProvider creates a TXT record in the zone found by walking up the labels", async () => {
  await using vendor = await fakeVendor(cloudflare());
  const dns = new CloudflareProvider({ apiToken: "tok", baseUrl: `${vendor.origin}/client/v4` });
  await dns.createTxtRecord(FQDN, "value-1");
  assert.deepEqual(lines(vendor.requests), [
    "GET /client/v4/zones?name=_acme-challenge.www.example.com",
    "GET /client/v4/zones?name=www.example.com",
    "GET /client/v4/zones?name=example.com",
    "POST /client/v4/zones/z1/dns_records",
  ]);
  const post = vendor.requests[3];
  assert.equal(post.headers.authorization, "Bearer tok");
  assert.equal(post.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(post.body), { type: "TXT", name: FQDN, content: "value-1", ttl: 120 });

  await dns.removeTxtRecord(`${FQDN}.`, "value-1"); // trailing dot tolerated, zone and id remembered
  assert.deepEqual(lines(vendor.requests.slice(4)), ["DELETE /client/v4/zones/z1/dns_records/r1"]);
});

test("CloudflareProvider removes by listing when it did not create the record, with key/email auth", async () => {
  await using vendor = await fakeVendor(cloudflare());
  const creator = new CloudflareProvider({ apiToken: "tok", baseUrl: `${vendor.origin}/client/v4`, ttl: 60 });
  await creator.createTxtRecord("_acme-challenge.example.com", "a");
  await creator.createTxtRecord("_acme-challenge.example.com", "b");
  vendor.requests.length = 0;
  const dns = new CloudflareProvider({ apiKey: "key", email: "me@example.com", baseUrl: `${vendor.origin}/client/v4` });
  await dns.removeTxtRecord("_acme-challenge.example.com", "b");
  assert.deepEqual(lines(vendor.requests), [
    "GET /client/v4/zones?name=_acme-challenge.example.com",
    "GET /client/v4/zones?name=example.com",
    "GET /client/v4/zones/z1/dns_records?type=TXT&name=_acme-challenge.example.com&per_page=100",
    "DELETE /client/v4/zones/z1/dns_records/r2",
  ]);
  for (const req of vendor.requests) {
    assert.equal(req.headers["x-auth-key"], "key");
    assert.equal(req.headers["x-auth-email"], "me@example.com");
    assert.equal(req.headers.authorization, undefined);
  }
});

test("CloudflareProvider maps a 403 to DnsProviderError with Cloudflare's message and code", async () => {
  await using vendor = await fakeVendor(() => ({
    status: 403,
    body: { success: false, errors: [{ code: 10000, message: "Authentication error" }], result: null },
  }));
  const dns = new CloudflareProvider({ apiToken: "bad", baseUrl: vendor.origin });
  await assert.rejects(dns.createTxtRecord("_acme-challenge.example.com", "v"), (error) => {
    assert.ok(error instanceof DnsProviderError);
    assert.equal(error.provider, "cloudflare");
    assert.equal(error.operation, "createTxtRecord");
    assert.equal(error.status, 403);
    assert.equal(error.vendorCode, "10000");
    assert.equal(error.vendorMessage, "Authentication error");
    assert.equal(
      error.message,
      'Cannot create TXT record "_acme-challenge.example.com" with cloudflare: HTTP 403: Authentication error',
    );
    return true;
  });
});

test("CloudflareProvider reports a name outside every zone", async () => {
  await using vendor = await fakeVendor(cloudflare());
  const dns = new CloudflareProvider({ apiToken: "tok", baseUrl: `${vendor.origin}/client/v4` });
  await assert.rejects(dns.createTxtRecord("_acme-challenge.example.org", "v"), (error) => {
    assert.ok(error instanceof DnsProviderError);
    assert.equal(error.status, undefined);
    assert.equal(
      error.message,
      'Cannot create TXT record "_acme-challenge.example.org" with cloudflare: ' +
        'no zone found for "_acme-challenge.example.org" (tried "_acme-challenge.example.org", "example.org")',
    );
    return true;
  });
});

test("CloudflareProvider rejects bad arguments before any request", async () => {
  assert.throws(() => new CloudflareProvider({ apiKey: "key" }), {
    name: "TypeError",
    message: "Cannot create CloudflareProvider: set 'apiToken', or both 'apiKey' and 'email'",
  });
  const dns = new CloudflareProvider({
    apiToken: "tok",
    fetch: () => Promise.reject(new Error("no request expected")),
  });
  await assert.rejects(dns.createTxtRecord("localhost", "v"), {
    name: "TypeError",
    message:
      'Cannot use "localhost" as a TXT record name: expected a dotted DNS name such as "_acme-challenge.example.com"',
  });
});

test("CloudflareProvider stops at an abort with the signal's reason, and maps network errors", async () => {
  const reason = new Error("stop");
  const hanging = (_input: unknown, init?: RequestInit) =>
    new Promise<Response>((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)));
  const dns = new CloudflareProvider({ apiToken: "tok", fetch: hanging });
  const controller = new AbortController();
  const pending = dns.createTxtRecord("_acme-challenge.example.com", "v", { signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(pending, (error) => error === reason);

  const slow = new CloudflareProvider({ apiToken: "tok", fetch: hanging, requestTimeoutMs: 5 });
  await assert.rejects(slow.createTxtRecord("_acme-challenge.example.com", "v"), {
    name: "DnsProviderError",
    message: 'Cannot create TXT record "_acme-challenge.example.com" with cloudflare: no response within 5 ms',
  });
  const refused = new CloudflareProvider({ apiToken: "tok", fetch: () => Promise.reject(new TypeError("refused")) });
  await assert.rejects(refused.removeTxtRecord("_acme-challenge.example.com", "v"), (error) => {
    assert.ok(error instanceof DnsProviderError);
    assert.equal(error.vendorMessage, "request failed: refused");
    assert.ok(error.cause instanceof TypeError);
    return true;
  });
});
