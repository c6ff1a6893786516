/**
 * {@linkcode dnsProviderFromEnv}: builds a {@linkcode DnsProvider} from go-tunnel's
 * environment variables (and lego's names for them), as `-dns-provider NAME` does.
 * @module
 */
import { AlidnsProvider } from "./alidns.ts";
import { CloudflareProvider } from "./cloudflare.ts";
import { DigitalOceanProvider } from "./digitalocean.ts";
import { GoDaddyProvider } from "./godaddy.ts";
import type { DnsProvider, FetchFn } from "./provider.ts";
import { Route53Provider } from "./route53.ts";

/** The providers {@linkcode dnsProviderFromEnv} knows, by go-tunnel's (libdns') names. */
export const DNS_PROVIDER_NAMES: readonly DnsProviderName[] = [
  "cloudflare",
  "alidns",
  "route53",
  "digitalocean",
  "godaddy",
];

/** A provider name {@linkcode dnsProviderFromEnv} knows. */
export type DnsProviderName = "cloudflare" | "alidns" | "route53" | "digitalocean" | "godaddy";

/** Other names accepted for the providers. */
export const DNS_PROVIDER_ALIASES: Readonly<Record<string, DnsProviderName>> = {
  alicloud: "alidns",
  aliyun: "alidns",
  aws: "route53",
};

/**
 * The environment variables each provider reads: for each setting, the accepted names in order
 * of preference (go-tunnel's README first, then lego's).
 */
export const DNS_PROVIDER_ENV: Readonly<Record<DnsProviderName, Readonly<Record<string, readonly string[]>>>> = {
  cloudflare: {
    apiToken: ["CLOUDFLARE_API_TOKEN", "CF_DNS_API_TOKEN", "CLOUDFLARE_DNS_API_TOKEN", "CF_API_TOKEN"],
    email: ["CLOUDFLARE_EMAIL", "CF_API_EMAIL"],
    apiKey: ["CLOUDFLARE_API_KEY", "CF_API_KEY"],
  },
  alidns: {
    accessKeyId: ["ALIDNS_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY"],
    accessKeySecret: ["ALIDNS_ACCESS_KEY_SECRET", "ALICLOUD_SECRET_KEY"],
    securityToken: ["ALICLOUD_SECURITY_TOKEN"],
  },
  route53: {
    accessKeyId: ["AWS_ACCESS_KEY_ID"],
    secretAccessKey: ["AWS_SECRET_ACCESS_KEY"],
    sessionToken: ["AWS_SESSION_TOKEN"],
    region: ["AWS_REGION", "AWS_DEFAULT_REGION"],
    hostedZoneId: ["AWS_HOSTED_ZONE_ID"],
  },
  digitalocean: { token: ["DIGITALOCEAN_TOKEN", "DO_AUTH_TOKEN"] },
  godaddy: { apiKey: ["GODADDY_API_KEY"], apiSecret: ["GODADDY_API_SECRET"] },
};

/** Options for {@linkcode dnsProviderFromEnv}. */
export interface DnsProviderFromEnvOptions {
  /** Sends the provider's requests. @default {globalThis.fetch} */
  fetch?: FetchFn;
  /** Time one vendor request may take. @default {30_000} */
  requestTimeoutMs?: number;
}

/**
 * The environment does not configure the provider: a variable is missing, or the name is unknown.
 *
 * @example Tell the user which variable to set
 * ```ts
 * import assert from "node:assert/strict";
 * import { dnsProviderFromEnv, DnsProviderConfigError } from "./from_env.ts";
 * assert.throws(() => dnsProviderFromEnv("godaddy", { GODADDY_API_KEY: "k" }), (error) => {
 *   assert.ok(error instanceof DnsProviderConfigError);
 *   assert.deepEqual(error.missing, ["GODADDY_API_SECRET"]);
 *   return true;
 * });
 * ```
 */
export class DnsProviderConfigError extends Error {
  /** The provider name as given. */
  readonly provider: string;
  /** The preferred names of the missing variables; empty for an unknown provider. */
  readonly missing: readonly string[];

  /**
   * Creates the error.
   *
   * @param provider The provider name as given.
   * @param problem What is wrong, ending the message.
   * @param missing The preferred names of the missing variables.
   */
  constructor(provider: string, problem: string, missing: readonly string[] = []) {
    super(`Cannot configure DNS provider "${provider}": ${problem}`);
    this.name = "DnsProviderConfigError";
    this.provider = provider;
    this.missing = missing;
  }
}

type Env = Record<string, string | undefined>;

function either(names: readonly string[]): string {
  return names.length > 1 ? `${names[0]} (or ${names.slice(1).join(", ")})` : names[0];
}

/** Reads settings from `env`; `require` throws naming the variable when none of its names is set. */
function reader(provider: DnsProviderName, env: Env) {
  const table = DNS_PROVIDER_ENV[provider];
  const get = (setting: string): string | undefined => {
    for (const name of table[setting]) if (env[name]) return env[name];
    return undefined;
  };
  const require = (setting: string, hint = ""): string => {
    const value = get(setting);
    if (value !== undefined) return value;
    const names = table[setting];
    throw new DnsProviderConfigError(provider, `environment variable ${either(names)} is not set${hint}`, [names[0]]);
  };
  return { get, require, table };
}

function cloudflareFromEnv(env: Env, options: DnsProviderFromEnvOptions): DnsProvider {
  const { get, require, table } = reader("cloudflare", env);
  const apiToken = get("apiToken");
  if (apiToken) return new CloudflareProvider({ ...options, apiToken });
  const apiKey = get("apiKey");
  const email = get("email");
  if (apiKey) {
    return new CloudflareProvider({ ...options, apiKey, email: require("email", ` (needed with ${table.apiKey[0]})`) });
  }
  if (email) require("apiKey", ` (needed with ${table.email[0]})`);
  throw new DnsProviderConfigError(
    "cloudflare",
    `set ${either(table.apiToken)}, or ${table.email[0]} and ${table.apiKey[0]} (or ${table.email[1]} and ${
      table.apiKey[1]
    })`,
    [table.apiToken[0]],
  );
}

const BUILDERS: Record<DnsProviderName, (env: Env, options: DnsProviderFromEnvOptions) => DnsProvider> = {
  cloudflare: cloudflareFromEnv,
  alidns(env, options) {
    const { get, require } = reader("alidns", env);
    return new AlidnsProvider({
      ...options,
      accessKeyId: require("accessKeyId"),
      accessKeySecret: require("accessKeySecret"),
      securityToken: get("securityToken"),
    });
  },
  route53(env, options) {
    const { get, require } = reader("route53", env);
    return new Route53Provider({
      ...options,
      accessKeyId: require("accessKeyId"),
      secretAccessKey: require("secretAccessKey"),
      sessionToken: get("sessionToken"),
      region: get("region"),
      hostedZoneId: get("hostedZoneId"),
    });
  },
  digitalocean: (env, options) =>
    new DigitalOceanProvider({ ...options, token: reader("digitalocean", env).require("token") }),
  godaddy(env, options) {
    const { require } = reader("godaddy", env);
    return new GoDaddyProvider({ ...options, apiKey: require("apiKey"), apiSecret: require("apiSecret") });
  },
};

/**
 * Builds the DNS provider called `name` (case-insensitive; see {@linkcode DNS_PROVIDER_NAMES}
 * and {@linkcode DNS_PROVIDER_ALIASES}) from the variables in `env`, named as in
 * {@linkcode DNS_PROVIDER_ENV}. Empty variables count as unset.
 *
 * @example Configure Cloudflare from an API token
 * ```ts
 * import assert from "node:assert/strict";
 * import { dnsProviderFromEnv } from "./from_env.ts";
 * const dns = dnsProviderFromEnv("cloudflare", { CLOUDFLARE_API_TOKEN: "token" });
 * assert.equal(dns.name, "cloudflare");
 * ```
 * @param name The provider's name, as given to `-dns-provider`.
 * @param env The environment, such as `process.env`.
 * @param options Transport for the provider.
 * @returns The provider, ready to use.
 * @throws {DnsProviderConfigError} If `name` is unknown or a required variable is not set.
 */
export function dnsProviderFromEnv(
  name: string,
  env: Record<string, string | undefined>,
  options: DnsProviderFromEnvOptions = {},
): DnsProvider {
  const key = name.trim().toLowerCase();
  const canonical = Object.hasOwn(DNS_PROVIDER_ALIASES, key)
    ? DNS_PROVIDER_ALIASES[key]
    : DNS_PROVIDER_NAMES.find((known) => known === key);
  if (canonical === undefined) {
    throw new DnsProviderConfigError(
      name,
      `unknown provider, expected one of ${DNS_PROVIDER_NAMES.join(", ")} (or the aliases ${
        Object.keys(DNS_PROVIDER_ALIASES).join(", ")
      })`,
    );
  }
  return BUILDERS[canonical](env, options);
}
