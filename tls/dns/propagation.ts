/**
 * {@linkcode waitForTxtRecord}: waits until DNS serves a TXT value, asking the zone's
 * authoritative nameservers (or the ones given) directly, so no resolver cache is in the way.
 * @module
 */
import { promises as dns } from "node:dns";
import { delay, raceAbort } from "../../ha/_abort.ts";
import { findAuthoritativeNameservers } from "./_nameservers.ts";
import { normalizeFqdn } from "./_http.ts";

/** Default time {@linkcode waitForTxtRecord} waits, in milliseconds. */
export const DEFAULT_PROPAGATION_TIMEOUT_MS = 120_000;
/** Default time between two rounds of queries, in milliseconds. */
export const DEFAULT_PROPAGATION_INTERVAL_MS = 2_000;
/** Default time one DNS query may take, in milliseconds. */
export const DEFAULT_DNS_QUERY_TIMEOUT_MS = 2_000;

/** Options for {@linkcode waitForTxtRecord}. */
export interface WaitForTxtRecordOptions {
  /**
   * Nameservers to ask, as `"host:port"`, `"host"` (port 53) or `"[v6]:port"`; each one must
   * serve the value.
   * @default {the authoritative nameservers of the name's zone, found through the system resolver}
   */
  nameservers?: string[];
  /** How long to wait before giving up. @default {120_000} */
  timeoutMs?: number;
  /** Time between two rounds of queries. @default {2_000} */
  intervalMs?: number;
  /** Time one query may take. @default {2_000} */
  queryTimeoutMs?: number;
  /** Aborting stops the wait and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * {@linkcode waitForTxtRecord} ran out of time.
 *
 * @example Read what was last seen
 * ```ts
 * import assert from "node:assert/strict";
 * import { PropagationTimeoutError } from "./propagation.ts";
 * const error = new PropagationTimeoutError("_acme-challenge.example.com", "abc", 1000, "ENOTFOUND");
 * assert.equal(
 *   error.message,
 *   'Cannot find TXT record "_acme-challenge.example.com" with value "abc": not served within 1000 ms (last: ENOTFOUND)',
 * );
 * ```
 */
export class PropagationTimeoutError extends Error {
  /** The record name. */
  readonly fqdn: string;
  /** The value waited for. */
  readonly value: string;
  /** How long it waited, in milliseconds. */
  readonly timeoutMs: number;
  /** What the last round of queries saw. */
  readonly lastSeen: string;

  /**
   * Creates the error.
   *
   * @param fqdn The record name.
   * @param value The value waited for.
   * @param timeoutMs How long it waited.
   * @param lastSeen What the last round of queries saw.
   */
  constructor(fqdn: string, value: string, timeoutMs: number, lastSeen: string) {
    super(
      `Cannot find TXT record "${fqdn}" with value "${value}": not served within ${timeoutMs} ms (last: ${lastSeen})`,
    );
    this.name = "PropagationTimeoutError";
    this.fqdn = fqdn;
    this.value = value;
    this.timeoutMs = timeoutMs;
    this.lastSeen = lastSeen;
  }
}

function errorCode(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  return code ?? message ?? String(error);
}

/**
 * Resolves once every nameserver serves `value` among the TXT records of `fqdn`, asking again
 * every `intervalMs`. By default it finds the zone's authoritative nameservers (NS records of
 * the name, then of each parent, through the system resolver) and asks them directly.
 *
 * @example Wait for a challenge record at a known nameserver
 * ```ts ignore
 * import { waitForTxtRecord } from "@ts-tunnel/tunnel/tls/dns";
 * await waitForTxtRecord("_acme-challenge.example.com", "gfj9Xq...Rg85nM", {
 *   nameservers: ["127.0.0.1:8053"],
 *   timeoutMs: 10_000,
 * });
 * ```
 * @param fqdn The record name, such as `"_acme-challenge.example.com"`.
 * @param value The TXT value to wait for (its character-strings joined).
 * @param options Nameservers, timing and cancellation.
 * @throws {PropagationTimeoutError} If some nameserver still lacks the value after `timeoutMs`.
 * @throws {TypeError} If `fqdn` is not a dotted DNS name.
 */
export async function waitForTxtRecord(
  fqdn: string,
  value: string,
  options: WaitForTxtRecordOptions = {},
): Promise<void> {
  const {
    nameservers,
    timeoutMs = DEFAULT_PROPAGATION_TIMEOUT_MS,
    intervalMs = DEFAULT_PROPAGATION_INTERVAL_MS,
    queryTimeoutMs = DEFAULT_DNS_QUERY_TIMEOUT_MS,
    signal,
  } = options;
  if (!(timeoutMs >= 0)) {
    throw new RangeError(`Cannot wait for a TXT record as 'timeoutMs' must be >= 0: current value is ${timeoutMs}`);
  }
  if (!(intervalMs > 0)) {
    throw new RangeError(
      `Cannot wait for a TXT record as 'intervalMs' must be positive: current value is ${intervalMs}`,
    );
  }
  const name = normalizeFqdn(fqdn);
  const deadline = Date.now() + timeoutMs;
  // A fresh resolver for every round: Bun's Resolver caches a negative answer for its lifetime.
  const live = new Set<InstanceType<typeof dns.Resolver>>();
  const newResolver = (servers?: string[]) => {
    const resolver = new dns.Resolver({ timeout: queryTimeoutMs, tries: 1 });
    if (servers) resolver.setServers(servers);
    live.add(resolver);
    return resolver;
  };
  let groups = nameservers?.map((server) => [server]);
  let lastSeen = "no answer yet";
  for (;;) {
    signal?.throwIfAborted();
    try {
      groups ??= await raceAbort(findAuthoritativeNameservers(name, newResolver(), signal), signal);
      const answers = await raceAbort(
        Promise.all(groups.map((servers) =>
          newResolver(servers).resolveTxt(name).then(
            (records) => records.map((chunks) => chunks.join("")),
            (error) => errorCode(error),
          )
        )),
        signal,
      );
      const missing = answers.flatMap((answer, i) =>
        typeof answer === "string" || !answer.includes(value)
          ? [`${groups![i].join(",")} answered ${JSON.stringify(answer)}`]
          : []
      );
      if (missing.length === 0) return;
      lastSeen = missing.join("; ");
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      lastSeen = errorCode(error);
    } finally {
      for (const resolver of live) resolver.cancel();
      live.clear();
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new PropagationTimeoutError(name, value, timeoutMs, lastSeen);
    await delay(Math.min(intervalMs, remaining), signal);
  }
}
