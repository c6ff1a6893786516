/** The certificate health check's verdicts, and the Prometheus series fed by the observer. */
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { AcmeMetrics, certificateHealthCheck, type CertificateInfo, type CertificateStatus } from "../../../tls/mod.ts";
import { test } from "../../_util/test.ts";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);

function status(extra: Partial<CertificateStatus>): CertificateStatus {
  return { state: "valid", domains: ["a.example.com"], failures: 0, managedSince: new Date(NOW - DAY), ...extra };
}

test("certificateHealthCheck() passes with time left, warns while pending or failing, fails near expiry", () => {
  const check = (statuses: Record<string, CertificateStatus>) =>
    certificateHealthCheck({ cacheStatus: () => statuses }, { now: () => NOW })();
  assert.deepEqual(check({}), { status: "pass", detail: "no managed domains" });
  assert.deepEqual(
    check({
      "a.example.com": status({ notAfter: new Date(NOW + 60 * DAY) }),
      "b.example.com": status({ notAfter: new Date(NOW + 30 * DAY) }),
    }),
    {
      status: "pass",
      detail: "next expiry: b.example.com in 30.0 d",
    },
  );
  assert.deepEqual(
    check({ "a.example.com": status({ notAfter: new Date(NOW + 20 * DAY), lastError: "rate limited" }) }),
    {
      status: "warn",
      detail: "a.example.com: renewal failing (last error: rate limited)",
    },
  );
  assert.deepEqual(check({ "a.example.com": status({ state: "pending", managedSince: new Date(NOW - 60_000) }) }), {
    status: "warn",
    detail: "a.example.com: certificate pending",
  });
  assert.deepEqual(check({ "a.example.com": status({ notAfter: new Date(NOW + 6 * DAY) }) }), {
    status: "fail",
    detail: "a.example.com: certificate expires in 6.0 d",
  });
  assert.deepEqual(check({ "a.example.com": status({ notAfter: new Date(NOW - 1) }) }), {
    status: "fail",
    detail: "a.example.com: certificate expired",
  });
  assert.deepEqual(
    check({
      "a.example.com": status({ state: "pending", managedSince: new Date(NOW - 11 * 60_000), lastError: "boom" }),
    }),
    {
      status: "fail",
      detail: "a.example.com: no certificate after 660 s (last error: boom)",
    },
  );
  const strict = certificateHealthCheck({
    cacheStatus: () => ({ "a.example.com": status({ notAfter: new Date(NOW + 10 * DAY) }) }),
  }, {
    minValidityMs: 14 * DAY,
    now: () => NOW,
  });
  assert.equal(strict().status, "fail");
});

test("AcmeMetrics exports expiry, renewals and failures per domain, into a given registry", async () => {
  const registry = new Registry();
  let now = NOW;
  const metrics = await AcmeMetrics.create({ namespace: "edge", registry, now: () => now });
  const info: CertificateInfo = {
    domains: ["*.example.com", "example.com"],
    issuer: "CN=Test",
    notBefore: NOW - DAY,
    notAfter: NOW + 89 * DAY,
    serialNumber: "01",
  };
  const domains = ["*.example.com", "example.com"];
  metrics.observer.onCertificateChange!({ reason: "issued", domains, certificate: { cert: "", key: "", info } });
  metrics.observer.onIssued!({ domains, renewal: false, durationMs: 10, info });
  metrics.observer.onFailure!({ domains: ["example.com"], error: new Error("x"), attempt: 1, retryInMs: 1000 });
  let text = await metrics.text();
  assert.match(text, /^edge_cert_expiry_seconds\{domain="\*\.example\.com"\} 7689600$/m);
  assert.match(text, /^edge_cert_expiry_seconds\{domain="example\.com"\} 7689600$/m);
  assert.match(text, /^edge_cert_renewals_total\{domain="example\.com"\} 1$/m);
  assert.match(text, /^edge_cert_renewal_failures_total\{domain="example\.com"\} 1$/m);
  assert.equal(text, await registry.metrics(), "the series live in the given registry");
  now += DAY;
  assert.match(await metrics.text(), /^edge_cert_expiry_seconds\{domain="example\.com"\} 7603200$/m);
  metrics.observer.onCertificateChange!({ reason: "revoked", domains: ["example.com"], certificate: undefined });
  text = await metrics.text();
  assert.doesNotMatch(text, /^edge_cert_expiry_seconds\{domain="example\.com"\}/m);
  assert.match(text, /^edge_cert_expiry_seconds\{domain="\*\.example\.com"\}/m);
  await assert.rejects(AcmeMetrics.create({ namespace: "1bad" }), { name: "TypeError" });
});
