import assert from "node:assert/strict";
import { DigitalOceanProvider } from "../../../tls/dns/digitalocean.ts";
import { DnsProviderError } from "../../../tls/dns/provider.ts";
import { test } from "../../_util/test.ts";
import { fakeVendor, lines, type Recorded, type Reply } from "./_fake_vendor.ts";

/** DigitalOcean with two pages of domains (example.com on the second) and records 101, 102, … */
function digitalOcean() {
  const records: { id: number; type: string; name: string; data: string }[] = [];
  return (req: Recorded): Reply => {
    const url = new URL(req.url, "http://x");
    if (req.method === "GET" && url.pathname === "/v2/domains") {
      const page = url.searchParams.get("page");
      return page === "1"
        ? { body: { domains: [{ name: "other.net" }], links: { pages: { next: "https://api/v2/domains?page=2" } } } }
        : { body: { domains: [{ name: "example.com" }], links: {} } };
    }
    if (req.method === "POST" && url.pathname === "/v2/domains/example.com/records") {
      const { type, name, data } = JSON.parse(req.body);
      const record = { id: 101 + records.length, type, name, data };
      records.push(record);
      return { status: 201, body: { domain_record: record } };
    }
    if (req.method === "GET" && url.pathname === "/v2/domains/example.com/records") {
      const short = url.searchParams.get("name")!.replace(/\.example\.com$/, "");
      return { body: { domain_records: records.filter((r) => r.name === short) } };
    }
    if (req.method === "DELETE") return { status: 204 };
    return { status: 404, body: { id: "not_found", message: "The resource you were accessing could not be found." } };
  };
}

test("DigitalOceanProvider creates a record with a name relative to the domain found in the list", async () => {
  await using vendor = await fakeVendor(digitalOcean());
  const dns = new DigitalOceanProvider({ token: "do-token", baseUrl: vendor.origin });
  await dns.createTxtRecord("_acme-challenge.example.com", "v1");
  assert.deepEqual(lines(vendor.requests), [
    "GET /v2/domains?page=1&per_page=200",
    "GET /v2/domains?page=2&per_page=200",
    "POST /v2/domains/example.com/records",
  ]);
  assert.equal(vendor.requests[2].headers.authorization, "Bearer do-token");
  assert.deepEqual(JSON.parse(vendor.requests[2].body), { type: "TXT", name: "_acme-challenge", data: "v1", ttl: 30 });
  await dns.removeTxtRecord("_acme-challenge.example.com", "v1");
  assert.deepEqual(lines(vendor.requests.slice(3)), ["DELETE /v2/domains/example.com/records/101"]);
});

test("DigitalOceanProvider removes a value it did not create by listing the name's TXT records", async () => {
  await using vendor = await fakeVendor(digitalOcean());
  const creator = new DigitalOceanProvider({ token: "t", baseUrl: vendor.origin });
  await creator.createTxtRecord("_acme-challenge.example.com", "a");
  await creator.createTxtRecord("_acme-challenge.example.com", "b");
  vendor.requests.length = 0;
  await new DigitalOceanProvider({ token: "t", baseUrl: vendor.origin }).removeTxtRecord(
    "_acme-challenge.example.com",
    "b",
  );
  assert.deepEqual(lines(vendor.requests).slice(2), [
    "GET /v2/domains/example.com/records?type=TXT&name=_acme-challenge.example.com&per_page=200",
    "DELETE /v2/domains/example.com/records/102",
  ]);
});

test("DigitalOceanProvider maps a 401 to DnsProviderError with DigitalOcean's message", async () => {
  await using vendor = await fakeVendor(() => ({
    status: 401,
    body: { id: "unauthorized", message: "Unable to authenticate you." },
  }));
  const dns = new DigitalOceanProvider({ token: "bad", baseUrl: vendor.origin });
  await assert.rejects(dns.removeTxtRecord("_acme-challenge.example.com", "v"), (error) => {
    assert.ok(error instanceof DnsProviderError);
    assert.equal(error.status, 401);
    assert.equal(error.vendorCode, "unauthorized");
    assert.equal(
      error.message,
      'Cannot remove TXT record "_acme-challenge.example.com" with digitalocean: HTTP 401: Unable to authenticate you.',
    );
    return true;
  });
  assert.throws(() => new DigitalOceanProvider({ token: "" }), {
    name: "TypeError",
    message: "Cannot create DigitalOceanProvider: set 'token'",
  });
});
