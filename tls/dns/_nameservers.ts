/**
 * Internal: finding the authoritative nameservers of the zone that holds a name, by asking for
 * NS records of the name and then of each parent until some are found.
 * @module
 */
import { zoneCandidates } from "./_zone.ts";

/** The lookups {@linkcode findAuthoritativeNameservers} needs; `node:dns`'s `promises.Resolver` fits. */
export interface NameserverLookup {
  resolveNs(name: string): Promise<string[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

/** Answers that mean "no NS records here", so the parent is asked next. */
const NO_ANSWER = new Set(["ENODATA", "ENOTFOUND", "ENOTIMP", "ESERVFAIL", "EREFUSED"]);

/**
 * The addresses of each authoritative nameserver of `fqdn`'s zone: one list per nameserver
 * host, IPv4 addresses if it has any, else IPv6.
 *
 * @throws {Error} If no candidate has NS records, or none of them resolves.
 */
export async function findAuthoritativeNameservers(
  fqdn: string,
  lookup: NameserverLookup,
  signal?: AbortSignal,
): Promise<string[][]> {
  for (const candidate of zoneCandidates(fqdn)) {
    signal?.throwIfAborted();
    let hosts: string[];
    try {
      hosts = await lookup.resolveNs(candidate);
    } catch (error) {
      if (NO_ANSWER.has((error as { code?: string }).code ?? "")) continue;
      throw error;
    }
    if (hosts.length === 0) continue;
    const groups: string[][] = [];
    for (const host of [...hosts].sort()) {
      let addresses = await lookup.resolve4(host).catch(() => [] as string[]);
      if (addresses.length === 0) addresses = await lookup.resolve6(host).catch(() => [] as string[]);
      if (addresses.length) groups.push(addresses);
    }
    if (groups.length) return groups;
    throw new Error(`none of the nameservers of "${candidate}" resolves: ${hosts.join(", ")}`);
  }
  throw new Error(`no NS records for "${fqdn}" or any parent`);
}
