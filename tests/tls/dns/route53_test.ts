import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { DnsProviderError } from "../../../tls/dns/provider.ts";
import { Route53Provider } from "../../../tls/dns/route53.ts";
import { test } from "../../_util/test.ts";
import { fakeVendor, lines, type Recorded, type Reply } from "./_fake_vendor.ts";

const CREDENTIALS = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const NOW = new Date("2026-01-02T03:04:05Z");

/**
 * Verifies a SigV4 `Authorization` header from the request as received (headers, path, query,
 * body), with node:crypto: what AWS checks, written apart from the code under test.
 */
function verifySigV4(req: Recorded, secret: string): boolean {
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/
      .exec(req.headers.authorization ?? "");
  if (!m) return false;
  const [, , day, region, service, signed, signature] = m;
  const [path, query = ""] = req.url.split("?");
  const enc = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  const canonicalQuery = query.split("&").filter(Boolean).map((p) =>
    p.split("=").map((x) => enc(decodeURIComponent(x)))
  )
    .sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v = ""]) => `${k}=${v}`).join("&");
  const names = signed.split(";");
  const canonical = [
    req.method,
    path.split("/").map(enc).join("/"),
    canonicalQuery,
    names.map((n) => `${n}:${req.headers[n].trim()}\n`).join(""),
    signed,
    createHash("sha256").update(req.body).digest("hex"),
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    req.headers["x-amz-date"],
    scope,
    createHash("sha256").update(canonical).digest("hex"),
  ]
    .join("\n");
  let key: Buffer = createHmac("sha256", `AWS4${secret}`).update(day).digest();
  for (const part of [region, service, "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
  return createHmac("sha256", key).update(toSign).digest("hex") === signature;
}

const XML = '<?xml version="1.0"?>\n';

/** Route 53 with a private and a public example.com zone; GetChange is PENDING `pending` times. */
function route53(pending = 1) {
  let values: string[] = [];
  let polls = 0;
  const bodies: string[] = [];
  const handler = (req: Recorded): Reply => {
    if (!verifySigV4(req, CREDENTIALS.secretAccessKey)) {
      return {
        status: 403,
        contentType: "text/xml",
        body: `${XML}<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type>` +
          "<Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the " +
          "signature you provided.</Message></Error><RequestId>req-1</RequestId></ErrorResponse>",
      };
    }
    const url = new URL(req.url, "http://x");
    const xml = (body: string): Reply => ({ contentType: "text/xml", body: XML + body });
    if (url.pathname === "/2013-04-01/hostedzonesbyname") {
      const zones = url.searchParams.get("dnsname") === "example.com"
        ? "<HostedZone><Id>/hostedzone/ZPRIV</Id><Name>example.com.</Name><Config><PrivateZone>true</PrivateZone></Config></HostedZone>" +
          "<HostedZone><Id>/hostedzone/ZPUB</Id><Name>example.com.</Name><Config><PrivateZone>false</PrivateZone></Config></HostedZone>"
        : "<HostedZone><Id>/hostedzone/ZOTHER</Id><Name>example.org.</Name><Config><PrivateZone>false</PrivateZone></Config></HostedZone>";
      return xml(`<ListHostedZonesByNameResponse><HostedZones>${zones}</HostedZones></ListHostedZonesByNameResponse>`);
    }
    if (req.method === "GET" && url.pathname === "/2013-04-01/hostedzone/ZPUB/rrset") {
      const set = values.length
        ? `<ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>10</TTL><ResourceRecords>${
          values.map((v) => `<ResourceRecord><Value>${v.replace(/&/g, "&amp;")}</Value></ResourceRecord>`).join("")
        }</ResourceRecords></ResourceRecordSet>`
        : "<ResourceRecordSet><Name>www.example.com.</Name><Type>A</Type><TTL>300</TTL></ResourceRecordSet>";
      return xml(
        `<ListResourceRecordSetsResponse><ResourceRecordSets>${set}</ResourceRecordSets></ListResourceRecordSetsResponse>`,
      );
    }
    if (req.method === "POST" && url.pathname === "/2013-04-01/hostedzone/ZPUB/rrset/") {
      bodies.push(req.body);
      const action = /<Action>(\w+)<\/Action>/.exec(req.body)![1];
      const sent = Array.from(
        req.body.matchAll(/<Value>(.*?)<\/Value>/g),
        (v) => v[1].replace(/&quot;/g, '"').replace(/&amp;/g, "&"),
      );
      values = action === "DELETE" ? [] : sent;
      return xml(
        "<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status>" +
          "<SubmittedAt>2026-01-02T03:04:05Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>",
      );
    }
    if (req.method === "GET" && url.pathname === "/2013-04-01/change/C1") {
      const status = ++polls > pending ? "INSYNC" : "PENDING";
      return xml(
        `<GetChangeResponse><ChangeInfo><Id>/change/C1</Id><Status>${status}</Status></ChangeInfo></GetChangeResponse>`,
      );
    }
    return { status: 404, body: "no route" };
  };
  return { handler, bodies };
}

function provider(origin: string, extra: Partial<ConstructorParameters<typeof Route53Provider>[0]> = {}) {
  return new Route53Provider({ ...CREDENTIALS, baseUrl: origin, now: () => NOW, pollIntervalMs: 1, ...extra });
}

test("Route53Provider UPSERTs into the public zone found by name, signed with SigV4, then waits for INSYNC", async () => {
  const fake = route53(2);
  await using vendor = await fakeVendor(fake.handler);
  await provider(vendor.origin, { sessionToken: "session" }).createTxtRecord("_acme-challenge.example.com", "v&1");
  assert.deepEqual(lines(vendor.requests), [
    "GET /2013-04-01/hostedzonesbyname?dnsname=_acme-challenge.example.com",
    "GET /2013-04-01/hostedzonesbyname?dnsname=example.com",
    "GET /2013-04-01/hostedzone/ZPUB/rrset?name=_acme-challenge.example.com.&type=TXT&maxitems=1",
    "POST /2013-04-01/hostedzone/ZPUB/rrset/",
    "GET /2013-04-01/change/C1",
    "GET /2013-04-01/change/C1",
    "GET /2013-04-01/change/C1",
  ]);
  const post = vendor.requests[3];
  assert.equal(post.headers["x-amz-date"], "20260102T030405Z");
  assert.equal(post.headers["x-amz-security-token"], "session");
  assert.equal(post.headers["content-type"], "application/xml");
  assert.match(
    post.headers.authorization,
    /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260102\/us-east-1\/route53\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
  );
  assert.equal(
    post.body,
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch>' +
      "<Comment>ACME DNS-01 challenge</Comment><Changes><Change><Action>UPSERT</Action><ResourceRecordSet>" +
      "<Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>10</TTL><ResourceRecords>" +
      "<ResourceRecord><Value>&quot;v&amp;1&quot;</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>" +
      "</Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>",
  );
});

test("Route53Provider keeps other values of the name: UPSERT adds, UPSERT removes, DELETE drops the last", async () => {
  const fake = route53(0);
  await using vendor = await fakeVendor(fake.handler);
  const dns = provider(vendor.origin, { hostedZoneId: "/hostedzone/ZPUB", waitForSync: false });
  await Promise.all([
    dns.createTxtRecord("_acme-challenge.example.com", "a"),
    dns.createTxtRecord("_acme-challenge.example.com", "b"),
  ]);
  await dns.removeTxtRecord("_acme-challenge.example.com", "a");
  await dns.removeTxtRecord("_acme-challenge.example.com", "b");
  await dns.removeTxtRecord("_acme-challenge.example.com", "b"); // gone: nothing to change
  const changes = fake.bodies.map((b) =>
    `${/<Action>(\w+)/.exec(b)![1]} ${Array.from(b.matchAll(/<Value>&quot;(\w)&quot;/g), (v) => v[1]).join(",")}`
  );
  assert.equal(changes.length, 4);
  assert.match(changes[0], /^UPSERT [ab]$/);
  assert.match(changes[1], /^UPSERT (a,b|b,a)$/);
  assert.deepEqual(changes.slice(2), ["UPSERT b", "DELETE b"]);
  assert.ok(lines(vendor.requests).every((l) => !l.includes("hostedzonesbyname") && !l.includes("/change/")));
});

test("Route53Provider gives up waiting for INSYNC after changeTimeoutMs", async () => {
  const fake = route53(Infinity);
  await using vendor = await fakeVendor(fake.handler);
  let t = 0;
  const dns = provider(vendor.origin, {
    hostedZoneId: "ZPUB",
    changeTimeoutMs: 3,
    now: () => new Date(NOW.getTime() + t++),
  });
  await assert.rejects(dns.createTxtRecord("_acme-challenge.example.com", "v"), {
    name: "DnsProviderError",
    message:
      'Cannot create TXT record "_acme-challenge.example.com" with route53: change "C1" is still PENDING after 3 ms',
  });
});

test("Route53Provider maps an XML error to DnsProviderError with the AWS code and message", async () => {
  await using vendor = await fakeVendor(route53().handler);
  const dns = new Route53Provider({ accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wrong", baseUrl: vendor.origin });
  await assert.rejects(dns.removeTxtRecord("_acme-challenge.example.com", "v"), (error) => {
    assert.ok(error instanceof DnsProviderError);
    assert.equal(error.status, 403);
    assert.equal(error.vendorCode, "SignatureDoesNotMatch");
    assert.equal(
      error.vendorMessage,
      "The request signature we calculated does not match the signature you provided.",
    );
    return true;
  });
});

test("Route53Provider signs for its partition's region", async () => {
  const seen: string[] = [];
  const fetch = (input: Request | URL | string, init?: RequestInit) => {
    seen.push(`${input} ${(init?.headers as Record<string, string>).authorization.split(", ")[0]}`);
    return Promise.resolve(new Response("<HostedZones></HostedZones>", { status: 200 }));
  };
  for (const region of ["eu-west-1", "cn-north-1", "us-gov-east-1"]) {
    await new Route53Provider({ ...CREDENTIALS, region, fetch, now: () => NOW })
      .createTxtRecord("_acme-challenge.example.com", "v").catch(() => {});
  }
  assert.deepEqual(seen.filter((_, i) => i % 2 === 0), [
    "https://route53.amazonaws.com/2013-04-01/hostedzonesbyname?dnsname=_acme-challenge.example.com " +
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/route53/aws4_request",
    "https://route53.amazonaws.com.cn/2013-04-01/hostedzonesbyname?dnsname=_acme-challenge.example.com " +
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/cn-northwest-1/route53/aws4_request",
    "https://route53.us-gov.amazonaws.com/2013-04-01/hostedzonesbyname?dnsname=_acme-challenge.example.com " +
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-gov-west-1/route53/aws4_request",
  ]);
});
