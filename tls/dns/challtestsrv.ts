/**
 * {@linkcode ChalltestsrvProvider}: DNS-01 TXT records in pebble-challtestsrv's mock DNS,
 * through its management API (`POST /set-txt`, `POST /clear-txt`), for tests against pebble.
 * @module
 */
import { KeyedLock } from "./_lock.ts";
import { type HttpClient, httpClient, normalizeFqdn, runOperation, send } from "./_http.ts";
import type { DnsHttpProviderOptions, DnsOperationOptions, DnsProvider } from "./provider.ts";

/** pebble-challtestsrv's default management address. */
export const DEFAULT_CHALLTESTSRV_BASE_URL = "http://127.0.0.1:8055";

/** Options for {@linkcode ChalltestsrvProvider}: the management API's `baseUrl` and transport. */
export type ChalltestsrvProviderOptions = DnsHttpProviderOptions;

/**
 * Publishes DNS-01 TXT records in pebble-challtestsrv. `set-txt` adds a value to a host;
 * `clear-txt` drops them all, so removing one value clears the host and sets again the values
 * this provider added and has not removed.
 *
 * @example Serve a challenge record to pebble
 * ```ts ignore
 * import { ChalltestsrvProvider } from "@ts-tunnel/tunnel/tls/dns";
 * const dns = new ChalltestsrvProvider({ baseUrl: "http://127.0.0.1:8055" });
 * await dns.createTxtRecord("_acme-challenge.test.example.com", "gfj9Xq...Rg85nM");
 * ```
 */
export class ChalltestsrvProvider implements DnsProvider {
  /** `"challtestsrv"`. */
  readonly name: string = "challtestsrv";
  #client: HttpClient;
  #values = new Map<string, string[]>();
  #lock = new KeyedLock();

  /**
   * Creates the provider.
   *
   * @param options The management API's base URL and transport.
   */
  constructor(options: ChalltestsrvProviderOptions = {}) {
    this.#client = httpClient(options, DEFAULT_CHALLTESTSRV_BASE_URL, (_status, text) => ({ message: text.trim() }));
  }

  /** Adds `value` under `fqdn` (`POST /set-txt`). */
  async createTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "createTxtRecord", name, () =>
      this.#lock.run(name, async () => {
        await this.#post("/set-txt", { host: `${name}.`, value }, options.signal);
        this.#values.set(name, [...(this.#values.get(name) ?? []), value]);
      }));
  }

  /** Removes `value` from `fqdn` (`POST /clear-txt`, then `set-txt` for the values kept). */
  async removeTxtRecord(fqdn: string, value: string, options: DnsOperationOptions = {}): Promise<void> {
    const name = normalizeFqdn(fqdn);
    await runOperation(this.name, "removeTxtRecord", name, () =>
      this.#lock.run(name, async () => {
        const kept = (this.#values.get(name) ?? []).filter((v) => v !== value);
        await this.#post("/clear-txt", { host: `${name}.` }, options.signal);
        this.#values.delete(name);
        for (const other of kept) {
          await this.#post("/set-txt", { host: `${name}.`, value: other }, options.signal);
          this.#values.set(name, [...(this.#values.get(name) ?? []), other]);
        }
      }));
  }

  async #post(path: string, body: unknown, signal: AbortSignal | undefined): Promise<void> {
    await send(this.#client, path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
  }
}
