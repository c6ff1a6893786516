/**
 * {@linkcode Route53Provider}: DNS-01 TXT records through the Amazon Route 53 API 2013-04-01
 * (`ListHostedZonesByName`, `ListResourceRecordSets`, `ChangeResourceRecordSets` with `UPSERT`
 * and `DELETE`, then `GetChange` until `INSYNC`), signed with AWS Signature Version 4.
 * @module
 */
import { delay } from "../../ha/_abort.ts";
import { KeyedLock } from "./_lock.ts";
import { signRequest } from "./_sigv4.ts";
import { escapeXml, unescapeXml, xmlElements, xmlText } from "./_xml.ts";
import { findZone, type FoundZone } from "./_zone.ts";
import { type HttpClient, httpClient, normalizeFqdn, runOperation, send, VendorError } from "./_http.ts";
import type { DnsHttpProviderOptions, DnsOperationOptions, DnsProvider } from "./provider.ts";

/** The Route 53 endpoint of the `aws` partition (China and GovCloud regions pick their own). */
export const DEFAULT_ROUTE53_BASE_URL = "https://route53.amazonaws.com";
/** Default region; Route 53 is global and signs with its partition's region whatever this is. */
export const DEFAULT_ROUTE53_REGION = "us-east-1";
/** Default TTL of the TXT records, in seconds. */
export const DEFAULT_ROUTE53_TTL = 10;
/** Default time a created record may take to reach `INSYNC`, in milliseconds. */
export const DEFAULT_ROUTE53_CHANGE_TIMEOUT_MS = 120_000;
/** Default time between `GetChange` polls, in milliseconds. */
export const DEFAULT_ROUTE53_POLL_INTERVAL_MS = 4_000;

const API = "/2013-04-01";
const XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/";

/** Options for {@linkcode Route53Provider}. */
export interface Route53ProviderOptions extends DnsHttpProviderOptions {
  /** AWS access key id. */
  accessKeyId: string;
  /** AWS secret access key; signs each request and is never sent. */
  secretAccessKey: string;
  /** Session token of temporary credentials, sent as `x-amz-security-token`. */
  sessionToken?: string;
  /** The AWS region, which picks the partition (`cn-*`, `us-gov-*`, or the global one). @default {"us-east-1"} */
  region?: string;
  /** Hosted zone to use, skipping the lookup by name (`Z…` or `/hostedzone/Z…`). */
  hostedZoneId?: string;
  /** TTL of the TXT records, in seconds. @default {10} */
  ttl?: number;
  /** Whether `createTxtRecord` waits for `GetChange` to report `INSYNC`. @default {true} */
  waitForSync?: boolean;
  /** How long `createTxtRecord` waits for `INSYNC`. @default {120_000} */
  changeTimeoutMs?: number;
  /** Time between `GetChange` polls. @default {4_000} */
  pollIntervalMs?: number;
  /** Clock for signing and the sync deadline, injectable for tests. @default {() => new Date()} */
  now?: () => Date;
}

interface RecordSet {
  ttl: number;
  values: string[];
}

function partition(region: string): { baseUrl: string; signingRegion: string } {
  if (region.startsWith("cn-")) return { baseUrl: "https://route53.amazonaws.com.cn", signingRegion: "cn-northwest-1" };
  if (region.startsWith("us-gov-")) {
    return { baseUrl: "https://route53.us-gov.amazonaws.com", signingRegion: "us-gov-west-1" };
  }
  return { baseUrl: DEFAULT_ROUTE53_BASE_URL, signingRegion: "us-east-1" };
}

function route53Fault(_status: number, text: string): { code?: string; message?: string } {
  const root = /<([A-Za-z]+)[\s>]/.exec(text.replace(/^<\?xml[^>]*>\s*/, ""))?.[1];
  return { code: xmlText(text, "Code") ?? root, message: xmlElements(text, "Message").map(unescapeXml).join("; ") };
}

/** `"abc"` for a TXT value `abc`, quoted and escaped as Route 53 stores it. */
function quoteTxt(value: string): string {
  return `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * Publishes DNS-01 TXT records in a Route 53 hosted zone, found with `ListHostedZonesByName`
 * by walking up the record's labels (private zones are skipped). Route 53 keeps all values of
 * a name in one record set, so creating reads the set and `UPSERT`s it with the value added;
 * removing `UPSERT`s it without the value, or `DELETE`s it when it was the last.
 *
 * @example Create and remove a challenge record
 * ```ts ignore
 * import { Route53Provider } from "@ts-tunnel/tunnel/tls/dns";
 * const dns = new Route53Provider({ accessKeyId: "AKIA…", secretAccessKey: "…" });
 * await dns.createTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM"); // resolves once INSYNC
 * await dns.removeTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM");
 * ```
 */
export class Route53Provider implements DnsProvider {
  /** `"route53"`. */
  readonly name: string = "route53";
  #client: HttpClient;
  #credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  #signingRegion: string;
  #hostedZoneId: string | undefined;
  #ttl: number;
  #waitForSync: boolean;
  #changeTimeoutMs: number;
  #pollIntervalMs: number;
  #now: () => Date;
  #zones = new Map<string, Promise<FoundZone<string>>>();
  #lock = new KeyedLock();

  /**
   * Creates the provider.
   *
   * @param options Credentials, zone, TTL, sync policy and transport.
   * @throws {TypeError} If `accessKeyId` or `secretAccessKey` is empty.
   */
  constructor(options: Route53ProviderOptions) {
    const {
      accessKeyId,
      secretAccessKey,
      sessionToken,
      region = DEFAULT_ROUTE53_REGION,
      hostedZoneId,
      ttl = DEFAULT_ROUTE53_TTL,
      waitForSync = true,
      changeTimeoutMs = DEFAULT_ROUTE53_CHANGE_TIMEOUT_MS,
      pollIntervalMs = DEFAULT_ROUTE53_POLL_INTERVAL_MS,
      now = () => new Date(),
    } = options;
    if (!accessKeyId || !secretAccessKey) {
      throw new TypeError("Cannot create Route53Provider: set 'accessKeyId' and 'secretAccessKey'");
    }
    const { baseUrl, signingRegion } = partition(region);
    this.#credentials = { accessKeyId, secretAccessKey, sessionToken: sessionToken || undefined };
    this.#signingRegion = signingRegion;
    this.#hostedZoneId = hostedZoneId?.replace(/^\/hostedzone\//, "") || undefined;
    this.#ttl = ttl;
    this.#waitForSync = waitForSync;
    this.#changeTimeoutMs = changeTimeoutMs;
    this.#pollIntervalMs = pollIntervalMs;
    this.#now = now;
    this.#client = httpClient(options, baseUrl, route53Fault);
  }

  /** Adds `value` under `fqdn` (`UPSERT`), then waits for `INSYNC` unless `waitForSync` is off. */
  async createTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    const { signal } = options;
    await runOperation(this.name, "createTxtRecord", name, async () => {
      const zoneId = await this.#zoneId(name, signal);
      const changeId = await this.#lock.run(name, async () => {
        const current = await this.#recordSet(zoneId, name, signal);
        const values = current?.values ?? [];
        if (values.includes(quoteTxt(value))) return undefined;
        return await this.#change(
          zoneId,
          "UPSERT",
          name,
          { ttl: this.#ttl, values: [...values, quoteTxt(value)] },
          signal,
        );
      });
      if (changeId && this.#waitForSync) await this.#waitInSync(changeId, signal);
    });
  }

  /** Removes `value` from `fqdn` (`UPSERT` of the rest, or `DELETE` of the last value). */
  async removeTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    const { signal } = options;
    await runOperation(this.name, "removeTxtRecord", name, async () => {
      const zoneId = await this.#zoneId(name, signal);
      await this.#lock.run(name, async () => {
        const current = await this.#recordSet(zoneId, name, signal);
        if (!current?.values.includes(quoteTxt(value))) return;
        const rest = current.values.filter((v) => v !== quoteTxt(value));
        if (rest.length) await this.#change(zoneId, "UPSERT", name, { ttl: current.ttl, values: rest }, signal);
        else await this.#change(zoneId, "DELETE", name, current, signal);
      });
    });
  }

  async #zoneId(name: string, signal: AbortSignal | undefined): Promise<string> {
    if (this.#hostedZoneId) return this.#hostedZoneId;
    const zone = await findZone(name, async (candidate) => {
      const xml = await this.#call("GET", `${API}/hostedzonesbyname?dnsname=${candidate}`, signal);
      const match = xmlElements(xml, "HostedZone").find((z) =>
        xmlText(z, "Name")?.toLowerCase() === `${candidate}.` && xmlText(z, "PrivateZone") !== "true"
      );
      return match && xmlText(match, "Id")?.replace(/^\/hostedzone\//, "");
    }, this.#zones);
    return zone.handle;
  }

  async #recordSet(zoneId: string, name: string, signal: AbortSignal | undefined): Promise<RecordSet | undefined> {
    const xml = await this.#call("GET", `${API}/hostedzone/${zoneId}/rrset?name=${name}.&type=TXT&maxitems=1`, signal);
    const set = xmlElements(xml, "ResourceRecordSet")[0];
    if (!set || xmlText(set, "Name")?.toLowerCase() !== `${name}.` || xmlText(set, "Type") !== "TXT") return undefined;
    return { ttl: Number(xmlText(set, "TTL") ?? this.#ttl), values: xmlElements(set, "Value").map(unescapeXml) };
  }

  async #change(zoneId: string, action: string, name: string, set: RecordSet, signal?: AbortSignal) {
    const records = set.values.map((v) => `<ResourceRecord><Value>${escapeXml(v)}</Value></ResourceRecord>`).join("");
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsRequest xmlns="${XMLNS}">` +
      `<ChangeBatch><Comment>ACME DNS-01 challenge</Comment><Changes><Change><Action>${action}</Action>` +
      `<ResourceRecordSet><Name>${escapeXml(name)}.</Name><Type>TXT</Type><TTL>${set.ttl}</TTL>` +
      `<ResourceRecords>${records}</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>` +
      `</ChangeResourceRecordSetsRequest>`;
    const xml = await this.#call("POST", `${API}/hostedzone/${zoneId}/rrset/`, signal, body);
    const status = xmlText(xml, "Status");
    return status === "INSYNC" ? undefined : xmlText(xml, "Id")?.replace(/^\/change\//, "");
  }

  async #waitInSync(changeId: string, signal: AbortSignal | undefined): Promise<void> {
    const deadline = this.#now().getTime() + this.#changeTimeoutMs;
    for (;;) {
      const xml = await this.#call("GET", `${API}/change/${changeId}`, signal);
      const status = xmlText(xml, "Status");
      if (status === "INSYNC") return;
      if (this.#now().getTime() + this.#pollIntervalMs > deadline) {
        throw new VendorError(`change "${changeId}" is still ${status} after ${this.#changeTimeoutMs} ms`);
      }
      await delay(this.#pollIntervalMs, signal);
    }
  }

  async #call(method: string, path: string, signal: AbortSignal | undefined, body?: string): Promise<string> {
    const url = this.#client.baseUrl + path;
    const headers = await signRequest(
      { method, url, body, headers: body === undefined ? {} : { "content-type": "application/xml" } },
      this.#credentials,
      { region: this.#signingRegion, service: "route53", date: this.#now() },
    );
    return (await send(this.#client, url, { method, headers, body, signal })).text;
  }
}
