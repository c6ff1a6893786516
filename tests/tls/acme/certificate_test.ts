/** Certificate facts, domain names and the SNI wildcard rule. */
import assert from "node:assert/strict";
import { dnsChallengeName, matchesServerName, normalizeDomain, readCertificateInfo } from "../../../tls/mod.ts";
import { testCerts } from "../../_util/certs.ts";
import { test } from "../../_util/test.ts";

test("readCertificateInfo() reads SAN names, issuer, validity and serial of the first certificate", async () => {
  const certs = await testCerts();
  const info = readCertificateInfo(certs.certPem + certs.caPem);
  assert.deepEqual(info.domains, ["localhost"]);
  assert.equal(info.issuer, "CN=ts-tunnel Test CA");
  assert.ok(info.notAfter - info.notBefore === 30 * 86_400_000);
  assert.match(info.serialNumber, /^[0-9a-f]+$/);
  assert.throws(() => readCertificateInfo("nope"), {
    name: "TypeError",
    message: "Cannot read certificate: not a PEM X.509 certificate",
  });
});

test("normalizeDomain() lowercases, drops the trailing dot and rejects what is not a DNS name", () => {
  assert.equal(normalizeDomain(" WWW.Example.com. "), "www.example.com");
  assert.equal(normalizeDomain("*.example.com"), "*.example.com");
  for (
    const bad of ["localhost", "a.*.example.com", "*.com", "-a.example.com", "a_b.example.com", "1.2.3.4", "", "a..b"]
  ) {
    assert.throws(() => normalizeDomain(bad), {
      name: "TypeError",
      message: `Cannot manage "${bad}": expected a DNS name such as "example.com" or "*.example.com"`,
    }, bad);
  }
});

test("matchesServerName() matches exact names and one label under a wildcard", () => {
  assert.ok(matchesServerName("example.com", "EXAMPLE.com."));
  assert.ok(matchesServerName("*.example.com", "a.example.com"));
  assert.ok(!matchesServerName("*.example.com", "example.com"));
  assert.ok(!matchesServerName("*.example.com", "a.b.example.com"));
  assert.ok(!matchesServerName("*.example.com", ".example.com"));
  assert.ok(!matchesServerName("a.example.com", "b.example.com"));
  assert.equal(dnsChallengeName("*.example.com"), "_acme-challenge.example.com");
  assert.equal(dnsChallengeName("www.example.com"), "_acme-challenge.www.example.com");
});
