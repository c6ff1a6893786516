import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { AlidnsProvider } from "../../../tls/dns/alidns.ts";
import { DnsProviderError } from "../../../tls/dns/provider.ts";
import { test } from "../../_util/test.ts";
import { fakeVendor, type Recorded, type Reply } from "./_fake_vendor.ts";

const SECRET = "testsecret";

/** The query parameters of a request, decoded. */
function params(req: Recorded): Record<string, string> {
  const query = req.url.slice(req.url.indexOf("?") + 1);
  return Object.fromEntries(query.split("&").map((pair) => pair.split("=").map(decodeURIComponent)));
}

/** Checks the signature the way Alibaba's server does, with node:crypto and a separate encoder. */
function verify(req: Recorded): boolean {
  const { Signature, ...rest } = params(req);
  const enc = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  const canonical = Object.keys(rest).sort().map((k) => `${enc(k)}=${enc(rest[k])}`).join("&");
  const expected = createHmac("sha1", `${SECRET}&`).update(`GET&%2F&${enc(canonical)}`).digest("base64");
  return Signature === expected;
}

/** Alidns with the domain example.com among 101 domains (two pages). */
function alidns() {
  const records: { RecordId: string; RR: string; Type: string; Value: string }[] = [];
  return (req: Recorded): Reply => {
    if (!verify(req)) {
      return { status: 400, body: { Code: "SignatureDoesNotMatch", Message: "Specified signature is not matched." } };
    }
    const p = params(req);
    switch (p.Action) {
      case "DescribeDomains": {
        const page = p.PageNumber === "1"
          ? Array.from({ length: 100 }, (_, i) => ({ DomainName: `d${i}.cn` }))
          : [{ DomainName: "example.com" }];
        return { body: { TotalCount: 101, PageNumber: Number(p.PageNumber), Domains: { Domain: page } } };
      }
      case "AddDomainRecord":
        records.push({ RecordId: `${9000 + records.length}`, RR: p.RR, Type: p.Type, Value: p.Value });
        return { body: { RequestId: "r", RecordId: records.at(-1)!.RecordId } };
      case "DescribeDomainRecords":
        return { body: { TotalCount: records.length, DomainRecords: { Record: records } } };
      case "DeleteDomainRecord":
        return { body: { RequestId: "r", RecordId: p.RecordId } };
    }
    return { status: 404, body: { Code: "InvalidAction.NotFound", Message: "no such action" } };
  };
}

function provider(origin: string, extra: { securityToken?: string } = {}): AlidnsProvider {
  let n = 0;
  return new AlidnsProvider({
    accessKeyId: "testid",
    accessKeySecret: SECRET,
    baseUrl: origin,
    now: () => new Date("2016-03-24T16:41:54.321Z"),
    nonce: () => `nonce-${++n}`,
    ...extra,
  });
}

test("AlidnsProvider signs each RPC request and adds the record in the domain found in the list", async () => {
  await using vendor = await fakeVendor(alidns());
  const dns = provider(vendor.origin, { securityToken: "sts" });
  await dns.createTxtRecord("_acme-challenge.www.example.com", "v+1/=");
  const sent = vendor.requests.map(params);
  assert.deepEqual(sent.map((p) => p.Action), ["DescribeDomains", "DescribeDomains", "AddDomainRecord"]);
  assert.ok(vendor.requests.every((r) => r.method === "GET" && r.url.startsWith("/?")));
  assert.deepEqual(sent[2], {
    AccessKeyId: "testid",
    Action: "AddDomainRecord",
    DomainName: "example.com",
    Format: "JSON",
    RR: "_acme-challenge.www",
    SecurityToken: "sts",
    Signature: sent[2].Signature,
    SignatureMethod: "HMAC-SHA1",
    SignatureNonce: "nonce-3",
    SignatureVersion: "1.0",
    TTL: "600",
    Timestamp: "2016-03-24T16:41:54Z",
    Type: "TXT",
    Value: "v+1/=",
    Version: "2015-01-09",
  });
  assert.match(vendor.requests[2].url, /&Signature=[A-Za-z0-9%]+$/); // appended last, percent-encoded
  await dns.removeTxtRecord("_acme-challenge.www.example.com", "v+1/=");
  assert.deepEqual(params(vendor.requests[3]).RecordId, "9000");
});

test("AlidnsProvider removes a value it did not create through DescribeDomainRecords", async () => {
  await using vendor = await fakeVendor(alidns());
  await provider(vendor.origin).createTxtRecord("_acme-challenge.example.com", "a");
  await provider(vendor.origin).createTxtRecord("_acme-challenge.example.com", "b");
  vendor.requests.length = 0;
  await provider(vendor.origin).removeTxtRecord("_acme-challenge.example.com", "b");
  const sent = vendor.requests.map(params);
  assert.deepEqual(sent.map((p) => p.Action), [
    "DescribeDomains",
    "DescribeDomains",
    "DescribeDomainRecords",
    "DeleteDomainRecord",
  ]);
  assert.equal(sent[2].RRKeyWord, "_acme-challenge");
  assert.equal(sent[2].TypeKeyWord, "TXT");
  assert.equal(sent[3].RecordId, "9001");
});

test("AlidnsProvider maps an error to DnsProviderError with Alibaba's Code and Message", async () => {
  await using vendor = await fakeVendor(alidns());
  const dns = new AlidnsProvider({ accessKeyId: "testid", accessKeySecret: "wrong", baseUrl: vendor.origin });
  await assert.rejects(dns.createTxtRecord("_acme-challenge.example.com", "v"), (error) => {
    assert.ok(error instanceof DnsProviderError);
    assert.equal(error.status, 400);
    assert.equal(error.vendorCode, "SignatureDoesNotMatch");
    assert.equal(
      error.message,
      'Cannot create TXT record "_acme-challenge.example.com" with alidns: HTTP 400: Specified signature is not matched.',
    );
    return true;
  });
});
