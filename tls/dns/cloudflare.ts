/**
 * {@linkcode CloudflareProvider}: DNS-01 TXT records through the Cloudflare API v4
 * (`GET /zones?name=`, `POST /zones/{id}/dns_records`, `DELETE /zones/{id}/dns_records/{id}`).
 * @module
 */
import { findZone, type FoundZone } from "./_zone.ts";
import {
  type HttpClient,
  httpClient,
  jsonFault,
  normalizeFqdn,
  parseJson,
  runOperation,
  send,
  type VendorFault,
} from "./_http.ts";
import type { DnsHttpProviderOptions, DnsOperationOptions, DnsProvider } from "./provider.ts";

/** The Cloudflare API v4 base URL. */
export const DEFAULT_CLOUDFLARE_BASE_URL = "https://api.cloudflare.com/client/v4";
/** Default TTL of the TXT records, in seconds (Cloudflare's minimum outside Enterprise plans). */
export const DEFAULT_CLOUDFLARE_TTL = 120;

/** Options for {@linkcode CloudflareProvider}: an API token, or a global API key with its email. */
export interface CloudflareProviderOptions extends DnsHttpProviderOptions {
  /** API token with Zone:Read and DNS:Edit permissions, sent as `Authorization: Bearer`. */
  apiToken?: string;
  /** Global API key, sent as `X-Auth-Key` (needs {@linkcode CloudflareProviderOptions.email}). */
  apiKey?: string;
  /** Account email, sent as `X-Auth-Email` with {@linkcode CloudflareProviderOptions.apiKey}. */
  email?: string;
  /** TTL of the TXT records, in seconds. @default {120} */
  ttl?: number;
}

interface Envelope<T> {
  success?: boolean;
  errors?: { code?: number; message?: string }[];
  result: T;
}

function cloudflareFault(_status: number, text: string): VendorFault {
  const errors = jsonFault<Envelope<unknown>>(text)?.errors ?? [];
  return {
    code: errors[0]?.code === undefined ? undefined : String(errors[0].code),
    message: errors.map((e) => e.message).filter(Boolean).join("; "),
  };
}

/**
 * Publishes DNS-01 TXT records in a Cloudflare zone, found by walking up the record's labels
 * with `GET /zones?name=`.
 *
 * @example Create and remove a challenge record
 * ```ts ignore
 * import { CloudflareProvider } from "@ts-tunnel/tunnel/tls/dns";
 * const dns = new CloudflareProvider({ apiToken: process.env.CLOUDFLARE_API_TOKEN });
 * await dns.createTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM");
 * await dns.removeTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM");
 * ```
 */
export class CloudflareProvider implements DnsProvider {
  /** `"cloudflare"`. */
  readonly name: string = "cloudflare";
  #client: HttpClient;
  #auth: Record<string, string>;
  #ttl: number;
  #zones = new Map<string, Promise<FoundZone<string>>>();
  #recordIds = new Map<string, string>();

  /**
   * Creates the provider.
   *
   * @param options Credentials, TTL and transport.
   * @throws {TypeError} If neither `apiToken` nor both `apiKey` and `email` are given.
   */
  constructor(options: CloudflareProviderOptions) {
    const { apiToken, apiKey, email, ttl = DEFAULT_CLOUDFLARE_TTL } = options;
    if (apiToken) this.#auth = { authorization: `Bearer ${apiToken}` };
    else if (apiKey && email) this.#auth = { "x-auth-key": apiKey, "x-auth-email": email };
    else throw new TypeError("Cannot create CloudflareProvider: set 'apiToken', or both 'apiKey' and 'email'");
    this.#ttl = ttl;
    this.#client = httpClient(options, DEFAULT_CLOUDFLARE_BASE_URL, cloudflareFault);
  }

  /** Adds `value` under `fqdn` (`POST /zones/{zone}/dns_records`). */
  async createTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "createTxtRecord", name, async () => {
      const zone = await this.#zone(name, options.signal);
      const created = parseJson<Envelope<{ id: string }>>(
        await this.#call("POST", `/zones/${zone.handle}/dns_records`, options.signal, {
          type: "TXT",
          name,
          content: value,
          ttl: this.#ttl,
        }),
      );
      this.#recordIds.set(`${name} ${value}`, created.result.id);
    });
  }

  /** Removes `value` from `fqdn` (`DELETE /zones/{zone}/dns_records/{id}`). */
  async removeTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "removeTxtRecord", name, async () => {
      const zone = await this.#zone(name, options.signal);
      const key = `${name} ${value}`;
      const known = this.#recordIds.get(key);
      let ids = known === undefined ? [] : [known];
      if (known === undefined) {
        const query = new URLSearchParams({ type: "TXT", name, per_page: "100" });
        const listed = parseJson<Envelope<{ id: string; content: string }[]>>(
          await this.#call("GET", `/zones/${zone.handle}/dns_records?${query}`, options.signal),
        );
        ids = listed.result.filter((r) => r.content === value || r.content === `"${value}"`).map((r) => r.id);
      }
      for (const id of ids) {
        await this.#call("DELETE", `/zones/${zone.handle}/dns_records/${id}`, options.signal, undefined, [404]);
      }
      this.#recordIds.delete(key);
    });
  }

  #zone(name: string, signal: AbortSignal | undefined): Promise<FoundZone<string>> {
    return findZone(name, async (candidate) => {
      const zones = parseJson<Envelope<{ id: string; name: string }[]>>(
        await this.#call("GET", `/zones?${new URLSearchParams({ name: candidate })}`, signal),
      );
      return zones.result.find((z) => z.name.toLowerCase() === candidate)?.id;
    }, this.#zones);
  }

  #call(method: string, path: string, signal?: AbortSignal, body?: unknown, accept?: number[]) {
    const headers: Record<string, string> = { ...this.#auth, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    return send(this.#client, path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      accept,
    });
  }
}
