/**
 * {@linkcode DigitalOceanProvider}: DNS-01 TXT records through the DigitalOcean API v2
 * (`GET /v2/domains`, `POST` and `DELETE /v2/domains/{domain}/records`).
 * @module
 */
import { findZone, type FoundZone, relativeName } from "./_zone.ts";
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

/** The DigitalOcean API base URL. */
export const DEFAULT_DIGITALOCEAN_BASE_URL = "https://api.digitalocean.com";
/** Default TTL of the TXT records, in seconds (DigitalOcean's minimum). */
export const DEFAULT_DIGITALOCEAN_TTL = 30;

/** Options for {@linkcode DigitalOceanProvider}. */
export interface DigitalOceanProviderOptions extends DnsHttpProviderOptions {
  /** Personal access token with write scope, sent as `Authorization: Bearer`. */
  token: string;
  /** TTL of the TXT records, in seconds. @default {30} */
  ttl?: number;
}

interface DomainRecord {
  id: number;
  type: string;
  name: string;
  data: string;
}

const PAGE_SIZE = 200;
const MAX_PAGES = 50;

function digitalOceanFault(_status: number, text: string): VendorFault {
  const body = jsonFault<{ id?: string; message?: string }>(text);
  return { code: body?.id, message: body?.message };
}

/**
 * Publishes DNS-01 TXT records in a DigitalOcean domain. The domain is the longest suffix of
 * the record's name among the account's domains (`GET /v2/domains`, paged).
 *
 * @example Create and remove a challenge record
 * ```ts ignore
 * import { DigitalOceanProvider } from "@ts-tunnel/tunnel/tls/dns";
 * const dns = new DigitalOceanProvider({ token: process.env.DIGITALOCEAN_TOKEN! });
 * await dns.createTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM");
 * await dns.removeTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM");
 * ```
 */
export class DigitalOceanProvider implements DnsProvider {
  /** `"digitalocean"`. */
  readonly name: string = "digitalocean";
  #client: HttpClient;
  #token: string;
  #ttl: number;
  #zones = new Map<string, Promise<FoundZone<string>>>();
  #recordIds = new Map<string, number>();

  /**
   * Creates the provider.
   *
   * @param options Token, TTL and transport.
   * @throws {TypeError} If `token` is empty.
   */
  constructor(options: DigitalOceanProviderOptions) {
    const { token, ttl = DEFAULT_DIGITALOCEAN_TTL } = options;
    if (!token) throw new TypeError("Cannot create DigitalOceanProvider: set 'token'");
    this.#token = token;
    this.#ttl = ttl;
    this.#client = httpClient(options, DEFAULT_DIGITALOCEAN_BASE_URL, digitalOceanFault);
  }

  /** Adds `value` under `fqdn` (`POST /v2/domains/{domain}/records`). */
  async createTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "createTxtRecord", name, async () => {
      const zone = await this.#zone(name, options.signal);
      const created = parseJson<{ domain_record: DomainRecord }>(
        await this.#call("POST", `/v2/domains/${zone.name}/records`, options.signal, {
          type: "TXT",
          name: relativeName(name, zone.name),
          data: value,
          ttl: this.#ttl,
        }),
      );
      this.#recordIds.set(`${name} ${value}`, created.domain_record.id);
    });
  }

  /** Removes `value` from `fqdn` (`DELETE /v2/domains/{domain}/records/{id}`). */
  async removeTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "removeTxtRecord", name, async () => {
      const zone = await this.#zone(name, options.signal);
      const key = `${name} ${value}`;
      const known = this.#recordIds.get(key);
      let ids = known === undefined ? [] : [known];
      if (known === undefined) {
        const query = new URLSearchParams({ type: "TXT", name, per_page: String(PAGE_SIZE) });
        const listed = parseJson<{ domain_records: DomainRecord[] }>(
          await this.#call("GET", `/v2/domains/${zone.name}/records?${query}`, options.signal),
        );
        ids = listed.domain_records.filter((r) => r.type === "TXT" && r.data === value).map((r) => r.id);
      }
      for (const id of ids) {
        await this.#call("DELETE", `/v2/domains/${zone.name}/records/${id}`, options.signal, undefined, [404]);
      }
      this.#recordIds.delete(key);
    });
  }

  async #zone(name: string, signal: AbortSignal | undefined): Promise<FoundZone<string>> {
    let domains: Set<string> | undefined;
    return await findZone(name, async (candidate) => {
      domains ??= await this.#listDomains(signal);
      return domains.has(candidate) ? candidate : undefined;
    }, this.#zones);
  }

  async #listDomains(signal: AbortSignal | undefined): Promise<Set<string>> {
    const names = new Set<string>();
    for (let page = 1; page <= MAX_PAGES; page++) {
      const query = new URLSearchParams({ page: String(page), per_page: String(PAGE_SIZE) });
      const body = parseJson<{ domains: { name: string }[]; links?: { pages?: { next?: string } } }>(
        await this.#call("GET", `/v2/domains?${query}`, signal),
      );
      for (const domain of body.domains) names.add(domain.name.toLowerCase());
      if (!body.links?.pages?.next || body.domains.length === 0) break;
    }
    return names;
  }

  #call(method: string, path: string, signal?: AbortSignal, body?: unknown, accept?: number[]) {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: "application/json" };
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
