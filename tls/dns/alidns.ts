/**
 * {@linkcode AlidnsProvider}: DNS-01 TXT records through Alibaba Cloud DNS (Alidns), RPC API
 * version 2015-01-09 (`DescribeDomains`, `AddDomainRecord`, `DescribeDomainRecords`,
 * `DeleteDomainRecord`), signed with HMAC-SHA1 signature version 1.0.
 * @module
 */
import { canonicalizedQuery, signRpcRequest } from "./_alidns_signature.ts";
import { percentEncode } from "./_percent_encode.ts";
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

/** The Alidns API endpoint. */
export const DEFAULT_ALIDNS_BASE_URL = "https://alidns.aliyuncs.com";
/** Default TTL of the TXT records, in seconds (the minimum of Alidns' free edition). */
export const DEFAULT_ALIDNS_TTL = 600;
/** The Alidns API version these requests speak. */
export const ALIDNS_API_VERSION = "2015-01-09";

/** Options for {@linkcode AlidnsProvider}. */
export interface AlidnsProviderOptions extends DnsHttpProviderOptions {
  /** AccessKey ID. */
  accessKeyId: string;
  /** AccessKey secret; signs each request and is never sent. */
  accessKeySecret: string;
  /** STS security token, for temporary credentials. */
  securityToken?: string;
  /** TTL of the TXT records, in seconds. @default {600} */
  ttl?: number;
  /** Clock for the `Timestamp` parameter, injectable for tests. @default {() => new Date()} */
  now?: () => Date;
  /** Source of `SignatureNonce` values, injectable for tests. @default {crypto.randomUUID} */
  nonce?: () => string;
}

interface AlidnsRecord {
  RecordId: string;
  RR: string;
  Type: string;
  Value: string;
}

const PAGE_SIZE = 100;
const MAX_PAGES = 50;

function alidnsFault(_status: number, text: string): VendorFault {
  const body = jsonFault<{ Code?: string; Message?: string }>(text);
  return { code: body?.Code, message: body?.Message };
}

/**
 * Publishes DNS-01 TXT records in an Alidns domain. The domain is the longest suffix of the
 * record's name among the account's domains (`DescribeDomains`, paged).
 *
 * @example Create and remove a challenge record
 * ```ts ignore
 * import { AlidnsProvider } from "@ts-tunnel/tunnel/tls/dns";
 * const dns = new AlidnsProvider({ accessKeyId: "…", accessKeySecret: "…" });
 * await dns.createTxtRecord("_acme-challenge.example.cn", "gfj9Xq...Rg85nM");
 * await dns.removeTxtRecord("_acme-challenge.example.cn", "gfj9Xq...Rg85nM");
 * ```
 */
export class AlidnsProvider implements DnsProvider {
  /** `"alidns"`. */
  readonly name: string = "alidns";
  #client: HttpClient;
  #accessKeyId: string;
  #accessKeySecret: string;
  #securityToken: string | undefined;
  #ttl: number;
  #now: () => Date;
  #nonce: () => string;
  #zones = new Map<string, Promise<FoundZone<string>>>();
  #recordIds = new Map<string, string>();

  /**
   * Creates the provider.
   *
   * @param options Credentials, TTL and transport.
   * @throws {TypeError} If `accessKeyId` or `accessKeySecret` is empty.
   */
  constructor(options: AlidnsProviderOptions) {
    const {
      accessKeyId,
      accessKeySecret,
      securityToken,
      ttl = DEFAULT_ALIDNS_TTL,
      now = () => new Date(),
      nonce = () => crypto.randomUUID(),
    } = options;
    if (!accessKeyId || !accessKeySecret) {
      throw new TypeError("Cannot create AlidnsProvider: set 'accessKeyId' and 'accessKeySecret'");
    }
    this.#accessKeyId = accessKeyId;
    this.#accessKeySecret = accessKeySecret;
    this.#securityToken = securityToken || undefined;
    this.#ttl = ttl;
    this.#now = now;
    this.#nonce = nonce;
    this.#client = httpClient(options, DEFAULT_ALIDNS_BASE_URL, alidnsFault);
  }

  /** Adds `value` under `fqdn` (`AddDomainRecord`). */
  async createTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "createTxtRecord", name, async () => {
      const zone = await this.#zone(name, options.signal);
      const added = await this.#call<{ RecordId: string }>("AddDomainRecord", {
        DomainName: zone.name,
        RR: relativeName(name, zone.name),
        Type: "TXT",
        Value: value,
        TTL: String(this.#ttl),
      }, options.signal);
      this.#recordIds.set(`${name} ${value}`, added.RecordId);
    });
  }

  /** Removes `value` from `fqdn` (`DescribeDomainRecords`, then `DeleteDomainRecord`). */
  async removeTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "removeTxtRecord", name, async () => {
      const key = `${name} ${value}`;
      const known = this.#recordIds.get(key);
      let ids = known === undefined ? [] : [known];
      if (known === undefined) {
        const zone = await this.#zone(name, options.signal);
        const rr = relativeName(name, zone.name);
        const listed = await this.#call<{ DomainRecords: { Record: AlidnsRecord[] } }>("DescribeDomainRecords", {
          DomainName: zone.name,
          RRKeyWord: rr,
          TypeKeyWord: "TXT",
          PageSize: "500",
        }, options.signal);
        ids = listed.DomainRecords.Record
          .filter((r) => r.RR === rr && r.Type === "TXT" && r.Value === value)
          .map((r) => r.RecordId);
      }
      for (const id of ids) await this.#call("DeleteDomainRecord", { RecordId: id }, options.signal);
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
      const body = await this.#call<{ TotalCount: number; Domains: { Domain: { DomainName: string }[] } }>(
        "DescribeDomains",
        { PageNumber: String(page), PageSize: String(PAGE_SIZE) },
        signal,
      );
      for (const domain of body.Domains.Domain) names.add(domain.DomainName.toLowerCase());
      if (body.Domains.Domain.length < PAGE_SIZE || page * PAGE_SIZE >= body.TotalCount) break;
    }
    return names;
  }

  async #call<T>(action: string, params: Record<string, string>, signal: AbortSignal | undefined): Promise<T> {
    const all: Record<string, string> = {
      Format: "JSON",
      Version: ALIDNS_API_VERSION,
      AccessKeyId: this.#accessKeyId,
      SignatureMethod: "HMAC-SHA1",
      Timestamp: this.#now().toISOString().replace(/\.\d{3}Z$/, "Z"),
      SignatureVersion: "1.0",
      SignatureNonce: this.#nonce(),
      Action: action,
      ...params,
    };
    if (this.#securityToken) all.SecurityToken = this.#securityToken;
    const signature = await signRpcRequest("GET", all, this.#accessKeySecret);
    const query = `${canonicalizedQuery(all)}&Signature=${percentEncode(signature)}`;
    const response = await send(this.#client, `/?${query}`, {
      method: "GET",
      headers: { accept: "application/json" },
      signal,
    });
    return parseJson<T>(response);
  }
}
