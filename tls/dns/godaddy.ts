/**
 * {@linkcode GoDaddyProvider}: DNS-01 TXT records through the GoDaddy Domains API v1
 * (`PATCH /v1/domains/{domain}/records`, and `GET`/`PUT`/`DELETE
 * /v1/domains/{domain}/records/TXT/{name}`), authenticated with `sso-key`.
 * @module
 */
import { KeyedLock } from "./_lock.ts";
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

/** The GoDaddy production API base URL (the test environment is `https://api.ote-godaddy.com`). */
export const DEFAULT_GODADDY_BASE_URL = "https://api.godaddy.com";
/** Default TTL of the TXT records, in seconds (GoDaddy's minimum). */
export const DEFAULT_GODADDY_TTL = 600;

/** Options for {@linkcode GoDaddyProvider}. */
export interface GoDaddyProviderOptions extends DnsHttpProviderOptions {
  /** API key, sent as `Authorization: sso-key {apiKey}:{apiSecret}`. */
  apiKey: string;
  /** API secret. */
  apiSecret: string;
  /** TTL of the TXT records, in seconds. @default {600} */
  ttl?: number;
}

interface TxtRecord {
  data: string;
  ttl?: number;
}

function goDaddyFault(_status: number, text: string): VendorFault {
  const body = jsonFault<{ code?: string; message?: string }>(text);
  return { code: body?.code, message: body?.message };
}

/**
 * Publishes DNS-01 TXT records in a GoDaddy domain. The domain is the longest suffix of the
 * record's name among the account's active domains (`GET /v1/domains`). Creating appends with
 * `PATCH`, so values under one name add up; removing rewrites the name's TXT set without the
 * value (`PUT`), or deletes it when it was the last.
 *
 * @example Create and remove a challenge record
 * ```ts ignore
 * import { GoDaddyProvider } from "@ts-tunnel/tunnel/tls/dns";
 * const dns = new GoDaddyProvider({ apiKey: "…", apiSecret: "…" });
 * await dns.createTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM");
 * await dns.removeTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM");
 * ```
 */
export class GoDaddyProvider implements DnsProvider {
  /** `"godaddy"`. */
  readonly name: string = "godaddy";
  #client: HttpClient;
  #authorization: string;
  #ttl: number;
  #zones = new Map<string, Promise<FoundZone<string>>>();
  #lock = new KeyedLock();

  /**
   * Creates the provider.
   *
   * @param options Credentials, TTL and transport.
   * @throws {TypeError} If `apiKey` or `apiSecret` is empty.
   */
  constructor(options: GoDaddyProviderOptions) {
    const { apiKey, apiSecret, ttl = DEFAULT_GODADDY_TTL } = options;
    if (!apiKey || !apiSecret) throw new TypeError("Cannot create GoDaddyProvider: set 'apiKey' and 'apiSecret'");
    this.#authorization = `sso-key ${apiKey}:${apiSecret}`;
    this.#ttl = ttl;
    this.#client = httpClient(options, DEFAULT_GODADDY_BASE_URL, goDaddyFault);
  }

  /** Adds `value` under `fqdn` (`PATCH /v1/domains/{domain}/records`). */
  async createTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "createTxtRecord", name, async () => {
      const zone = await this.#zone(name, options.signal);
      await this.#lock.run(name, () =>
        this.#call("PATCH", `/v1/domains/${zone.name}/records`, options.signal, [
          { type: "TXT", name: relativeName(name, zone.name), data: value, ttl: this.#ttl },
        ]));
    });
  }

  /** Removes `value` from `fqdn` (`PUT` or `DELETE /v1/domains/{domain}/records/TXT/{name}`). */
  async removeTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "removeTxtRecord", name, async () => {
      const zone = await this.#zone(name, options.signal);
      const path = `/v1/domains/${zone.name}/records/TXT/${encodeURIComponent(relativeName(name, zone.name))}`;
      await this.#lock.run(name, async () => {
        const listed = await this.#call("GET", path, options.signal, undefined, [404]);
        const current = listed.status === 404 ? [] : parseJson<TxtRecord[]>(listed);
        const rest = current.filter((r) => r.data !== value);
        if (rest.length === current.length) return;
        if (rest.length === 0) await this.#call("DELETE", path, options.signal, undefined, [404]);
        else {await this.#call(
            "PUT",
            path,
            options.signal,
            rest.map((r) => ({ data: r.data, ttl: r.ttl ?? this.#ttl })),
          );}
      });
    });
  }

  async #zone(name: string, signal: AbortSignal | undefined): Promise<FoundZone<string>> {
    let domains: Set<string> | undefined;
    return await findZone(name, async (candidate) => {
      if (!domains) {
        const query = new URLSearchParams({ statuses: "ACTIVE", limit: "1000" });
        const listed = parseJson<{ domain: string }[]>(await this.#call("GET", `/v1/domains?${query}`, signal));
        domains = new Set(listed.map((d) => d.domain.toLowerCase()));
      }
      return domains.has(candidate) ? candidate : undefined;
    }, this.#zones);
  }

  #call(method: string, path: string, signal?: AbortSignal, body?: unknown, accept?: number[]) {
    const headers: Record<string, string> = { authorization: this.#authorization, accept: "application/json" };
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
