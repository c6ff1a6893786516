import assert from "node:assert/strict";
import {
  DNS_PROVIDER_ENV,
  DNS_PROVIDER_NAMES,
  DnsProviderConfigError,
  dnsProviderFromEnv,
} from "../../../tls/dns/from_env.ts";
import { DnsProviderError } from "../../../tls/dns/provider.ts";
import { test } from "../../_util/test.ts";

/** A fetch that records the first request of an operation and answers 401. */
function recorder() {
  const seen: { url: string; headers: Record<string, string> }[] = [];
  const fetch = (input: Request | URL | string, init?: RequestInit) => {
    seen.push({ url: String(input), headers: { ...(init?.headers as Record<string, string>) } });
    return Promise.resolve(new Response("{}", { status: 401 }));
  };
  return { seen, fetch };
}

/** Builds `name` from `env` and returns the first request one operation sends. */
async function firstRequest(name: string, env: Record<string, string | undefined>) {
  const { seen, fetch } = recorder();
  const dns = dnsProviderFromEnv(name, env, { fetch });
  await assert.rejects(dns.createTxtRecord("_acme-challenge.example.com", "v"), DnsProviderError);
  return { dns, request: seen[0] };
}

test("dnsProviderFromEnv() builds each provider from go-tunnel's variable names", async () => {
  const cloudflare = await firstRequest("cloudflare", { CLOUDFLARE_API_TOKEN: "cf-token" });
  assert.equal(cloudflare.dns.name, "cloudflare");
  assert.equal(cloudflare.request.headers.authorization, "Bearer cf-token");
  assert.match(cloudflare.request.url, /^https:\/\/api\.cloudflare\.com\/client\/v4\/zones\?name=/);

  const key = await firstRequest("Cloudflare", { CLOUDFLARE_EMAIL: "me@example.com", CLOUDFLARE_API_KEY: "k" });
  assert.equal(key.request.headers["x-auth-email"], "me@example.com");
  assert.equal(key.request.headers["x-auth-key"], "k");

  const alidns = await firstRequest("alidns", { ALIDNS_ACCESS_KEY_ID: "ak", ALIDNS_ACCESS_KEY_SECRET: "sk" });
  assert.equal(alidns.dns.name, "alidns");
  assert.match(alidns.request.url, /^https:\/\/alidns\.aliyuncs\.com\/\?.*AccessKeyId=ak&Action=DescribeDomains&/);

  const route53 = await firstRequest("route53", {
    AWS_ACCESS_KEY_ID: "AKID",
    AWS_SECRET_ACCESS_KEY: "secret",
    AWS_REGION: "eu-central-1",
    AWS_SESSION_TOKEN: "session",
    AWS_HOSTED_ZONE_ID: "Z123",
  });
  assert.equal(route53.dns.name, "route53");
  assert.match(route53.request.url, /^https:\/\/route53\.amazonaws\.com\/2013-04-01\/hostedzone\/Z123\/rrset\?/);
  assert.equal(route53.request.headers["x-amz-security-token"], "session");
  assert.match(route53.request.headers.authorization, /Credential=AKID\/\d{8}\/us-east-1\/route53\/aws4_request/);

  const digitalocean = await firstRequest("digitalocean", { DIGITALOCEAN_TOKEN: "do-token" });
  assert.equal(digitalocean.dns.name, "digitalocean");
  assert.equal(digitalocean.request.headers.authorization, "Bearer do-token");

  const godaddy = await firstRequest("godaddy", { GODADDY_API_KEY: "gk", GODADDY_API_SECRET: "gs" });
  assert.equal(godaddy.dns.name, "godaddy");
  assert.equal(godaddy.request.headers.authorization, "sso-key gk:gs");
});

test("dnsProviderFromEnv() accepts lego's names and provider aliases; go-tunnel's names win", async () => {
  const token = await firstRequest("cloudflare", { CF_DNS_API_TOKEN: "lego", CLOUDFLARE_API_TOKEN: "go-tunnel" });
  assert.equal(token.request.headers.authorization, "Bearer go-tunnel");
  const legacy = await firstRequest("cloudflare", { CF_API_EMAIL: "me@example.com", CF_API_KEY: "k" });
  assert.equal(legacy.request.headers["x-auth-key"], "k");
  const aliyun = await firstRequest("aliyun", { ALICLOUD_ACCESS_KEY: "ak2", ALICLOUD_SECRET_KEY: "sk2" });
  assert.equal(aliyun.dns.name, "alidns");
  assert.match(aliyun.request.url, /AccessKeyId=ak2&/);
  const aws = await firstRequest("aws", { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "s" });
  assert.equal(aws.dns.name, "route53");
  const digitalocean = await firstRequest("digitalocean", { DO_AUTH_TOKEN: "lego-do" });
  assert.equal(digitalocean.request.headers.authorization, "Bearer lego-do");
  const empty = await firstRequest("digitalocean", { DIGITALOCEAN_TOKEN: "", DO_AUTH_TOKEN: "fallback" });
  assert.equal(empty.request.headers.authorization, "Bearer fallback");
});

test("dnsProviderFromEnv() names the missing variable and the provider", () => {
  const cases: [string, Record<string, string>, string, string[]][] = [
    [
      "cloudflare",
      {},
      'Cannot configure DNS provider "cloudflare": set CLOUDFLARE_API_TOKEN (or CF_DNS_API_TOKEN, ' +
      "CLOUDFLARE_DNS_API_TOKEN, CF_API_TOKEN), or CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY (or CF_API_EMAIL and CF_API_KEY)",
      ["CLOUDFLARE_API_TOKEN"],
    ],
    [
      "cloudflare",
      { CLOUDFLARE_API_KEY: "k" },
      'Cannot configure DNS provider "cloudflare": environment variable CLOUDFLARE_EMAIL (or CF_API_EMAIL) ' +
      "is not set (needed with CLOUDFLARE_API_KEY)",
      ["CLOUDFLARE_EMAIL"],
    ],
    [
      "alidns",
      { ALIDNS_ACCESS_KEY_ID: "ak" },
      'Cannot configure DNS provider "alidns": environment variable ALIDNS_ACCESS_KEY_SECRET (or ALICLOUD_SECRET_KEY) ' +
      "is not set",
      ["ALIDNS_ACCESS_KEY_SECRET"],
    ],
    [
      "route53",
      { AWS_SECRET_ACCESS_KEY: "s" },
      'Cannot configure DNS provider "route53": environment variable AWS_ACCESS_KEY_ID is not set',
      ["AWS_ACCESS_KEY_ID"],
    ],
    [
      "digitalocean",
      { DIGITALOCEAN_TOKEN: "" },
      'Cannot configure DNS provider "digitalocean": environment variable DIGITALOCEAN_TOKEN (or DO_AUTH_TOKEN) is not set',
      ["DIGITALOCEAN_TOKEN"],
    ],
    [
      "godaddy",
      { GODADDY_API_SECRET: "s" },
      'Cannot configure DNS provider "godaddy": environment variable GODADDY_API_KEY is not set',
      ["GODADDY_API_KEY"],
    ],
  ];
  for (const [name, env, message, missing] of cases) {
    assert.throws(() => dnsProviderFromEnv(name, env), (error) => {
      assert.ok(error instanceof DnsProviderConfigError);
      assert.equal(error.message, message);
      assert.equal(error.provider, name);
      assert.deepEqual(error.missing, missing);
      return true;
    });
  }
});

test("dnsProviderFromEnv() lists the known providers for an unknown name", () => {
  for (const name of ["bind9", "constructor"]) {
    assert.throws(() => dnsProviderFromEnv(name, {}), {
      name: "DnsProviderConfigError",
      message: `Cannot configure DNS provider "${name}": unknown provider, expected one of cloudflare, alidns, ` +
        "route53, digitalocean, godaddy (or the aliases alicloud, aliyun, aws)",
    });
  }
  assert.deepEqual(Object.keys(DNS_PROVIDER_ENV), [...DNS_PROVIDER_NAMES]);
});
