import assert from "node:assert/strict";
import { GoDaddyProvider } from "../../../tls/dns/godaddy.ts";
import { DnsProviderError } from "../../../tls/dns/provider.ts";
import { test } from "../../_util/test.ts";
import { fakeVendor, lines, type Recorded, type Reply } from "./_fake_vendor.ts";

/** GoDaddy with the domain example.com, keeping TXT records by relative name. */
function goDaddy() {
  const txt = new Map<string, { data: string; ttl: number }[]>();
  return (req: Recorded): Reply => {
    const url = new URL(req.url, "http://x");
    if (req.method === "GET" && url.pathname === "/v1/domains") {
      return { body: [{ domain: "example.com", status: "ACTIVE" }, { domain: "example.net", status: "ACTIVE" }] };
    }
    if (req.method === "PATCH" && url.pathname === "/v1/domains/example.com/records") {
      for (const r of JSON.parse(req.body)) txt.set(r.name, [...(txt.get(r.name) ?? []), { data: r.data, ttl: r.ttl }]);
      return { status: 200 };
    }
    const match = /^\/v1\/domains\/example\.com\/records\/TXT\/(.+)$/.exec(url.pathname);
    if (match) {
      const name = decodeURIComponent(match[1]);
      if (req.method === "GET") return { body: (txt.get(name) ?? []).map((r) => ({ ...r, name, type: "TXT" })) };
      if (req.method === "PUT") txt.set(name, JSON.parse(req.body));
      if (req.method === "DELETE") txt.delete(name);
      return { status: req.method === "DELETE" ? 204 : 200 };
    }
    return { status: 404, body: { code: "NOT_FOUND", message: "not here" } };
  };
}

test("GoDaddyProvider appends with PATCH and removes one value with PUT, the last with DELETE", async () => {
  await using vendor = await fakeVendor(goDaddy());
  const dns = new GoDaddyProvider({ apiKey: "key", apiSecret: "secret", baseUrl: vendor.origin });
  await Promise.all([
    dns.createTxtRecord("_acme-challenge.www.example.com", "a"),
    dns.createTxtRecord("_acme-challenge.www.example.com", "b"),
  ]);
  assert.deepEqual(lines(vendor.requests), [
    "GET /v1/domains?statuses=ACTIVE&limit=1000", // one lookup, shared by both
    "PATCH /v1/domains/example.com/records",
    "PATCH /v1/domains/example.com/records",
  ]);
  assert.equal(vendor.requests[1].headers.authorization, "sso-key key:secret");
  assert.deepEqual(
    vendor.requests.slice(1).map((r) => JSON.parse(r.body)[0]).sort((x, y) => x.data < y.data ? -1 : 1),
    [
      { type: "TXT", name: "_acme-challenge.www", data: "a", ttl: 600 },
      { type: "TXT", name: "_acme-challenge.www", data: "b", ttl: 600 },
    ],
  );
  vendor.requests.length = 0;
  await dns.removeTxtRecord("_acme-challenge.www.example.com", "a");
  await dns.removeTxtRecord("_acme-challenge.www.example.com", "b");
  await dns.removeTxtRecord("_acme-challenge.www.example.com", "b"); // already gone: no write
  const path = "/v1/domains/example.com/records/TXT/_acme-challenge.www";
  assert.deepEqual(lines(vendor.requests), [
    `GET ${path}`,
    `PUT ${path}`,
    `GET ${path}`,
    `DELETE ${path}`,
    `GET ${path}`,
  ]);
  assert.deepEqual(JSON.parse(vendor.requests[1].body), [{ data: "b", ttl: 600 }]);
});

test("GoDaddyProvider maps a 401 to DnsProviderError with GoDaddy's code and message", async () => {
  await using vendor = await fakeVendor(() => ({
    status: 401,
    body: { code: "UNABLE_TO_AUTHENTICATE", message: "Unable to authenticate" },
  }));
  const dns = new GoDaddyProvider({ apiKey: "k", apiSecret: "s", baseUrl: vendor.origin });
  await assert.rejects(dns.createTxtRecord("_acme-challenge.example.com", "v"), (error) => {
    assert.ok(error instanceof DnsProviderError);
    assert.equal(error.status, 401);
    assert.equal(error.vendorCode, "UNABLE_TO_AUTHENTICATE");
    assert.equal(
      error.message,
      'Cannot create TXT record "_acme-challenge.example.com" with godaddy: HTTP 401: Unable to authenticate',
    );
    return true;
  });
});
