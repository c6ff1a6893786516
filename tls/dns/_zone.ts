/**
 * Internal: finding the zone that holds a name by walking up its labels, and the record name
 * relative to that zone.
 * @module
 */
import { VendorError } from "./_http.ts";

/**
 * The names that could be the zone of `fqdn`, longest first, down to two labels:
 * `"_acme-challenge.a.example.com"` gives itself, `"a.example.com"` and `"example.com"`.
 */
export function zoneCandidates(fqdn: string): string[] {
  const labels = fqdn.split(".");
  const candidates: string[] = [];
  for (let i = 0; i <= labels.length - 2; i++) candidates.push(labels.slice(i).join("."));
  return candidates;
}

/** A zone found for a name, with the vendor's handle for it (an id, or the name itself). */
export interface FoundZone<T> {
  /** The zone's name, without a trailing dot. */
  readonly name: string;
  /** The vendor's handle for the zone. */
  readonly handle: T;
}

/** Zones found per record name; a lookup in flight is shared by concurrent operations. */
export type ZoneCache<T> = Map<string, Promise<FoundZone<T>>>;

/**
 * Asks `lookup` about each candidate of {@linkcode zoneCandidates}, longest first, and returns
 * the first it knows. Found zones (and lookups in flight) are remembered in `cache` per name;
 * a failed lookup is forgotten.
 *
 * @throws {VendorError} If no candidate is a zone.
 */
export function findZone<T>(
  fqdn: string,
  lookup: (candidate: string) => Promise<T | undefined>,
  cache: ZoneCache<T>,
): Promise<FoundZone<T>> {
  const known = cache.get(fqdn);
  if (known) return known;
  const found = (async () => {
    const candidates = zoneCandidates(fqdn);
    for (const name of candidates) {
      const handle = await lookup(name);
      if (handle !== undefined) return { name, handle };
    }
    throw new VendorError(`no zone found for "${fqdn}" (tried ${candidates.map((c) => `"${c}"`).join(", ")})`);
  })();
  cache.set(fqdn, found);
  found.catch(() => {
    if (cache.get(fqdn) === found) cache.delete(fqdn);
  });
  return found;
}

/** `fqdn` relative to `zone`: `"_acme-challenge"` in `"example.com"`, or `"@"` for the apex. */
export function relativeName(fqdn: string, zone: string): string {
  return fqdn === zone ? "@" : fqdn.slice(0, -(zone.length + 1));
}
