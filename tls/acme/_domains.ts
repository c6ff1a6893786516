/**
 * Internal: the managed certificates, indexed by storage name and by each name they serve, and
 * the SNI lookup over them (an exact name first, then a wildcard one label up).
 * @module
 */
import { Managed } from "./_managed.ts";

/** Lowercases and drops a trailing dot, as SNI names and `removeDomains()` arguments arrive. */
function clean(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}

/** The managed certificates of one manager. */
export class DomainTable {
  readonly #byName = new Map<string, Managed>();
  readonly #byDomain = new Map<string, Managed>();

  /** Every managed name, in the order added. */
  names(): string[] {
    return [...this.#byDomain.keys()];
  }

  /** Whether `domain` (normalized) is managed. */
  has(domain: string): boolean {
    return this.#byDomain.has(domain);
  }

  /** Every managed certificate. */
  all(): Managed[] {
    return [...this.#byName.values()];
  }

  /** Each managed name with its certificate. */
  entries(): IterableIterator<[string, Managed]> {
    return this.#byDomain.entries();
  }

  /** Whether `m` is still managed (not removed since). */
  holds(m: Managed): boolean {
    return this.#byName.get(m.name) === m;
  }

  /** The certificate stored under `name`. */
  get(name: string): Managed | undefined {
    return this.#byName.get(name);
  }

  /** Adds one certificate per group of (normalized, new) names. */
  add(groups: string[][], now: number): Managed[] {
    return groups.map((group) => {
      const managed = new Managed(group, now);
      this.#byName.set(managed.name, managed);
      for (const d of group) this.#byDomain.set(d, managed);
      return managed;
    });
  }

  /**
   * Stops managing `domain`.
   *
   * @returns The certificate it belonged to, with `empty` set when no managed name is left on it.
   */
  remove(domain: string): { managed: Managed; empty: boolean } | undefined {
    const name = clean(domain);
    const managed = this.#byDomain.get(name);
    if (!managed) return undefined;
    this.#byDomain.delete(name);
    managed.domains = managed.domains.filter((d) => d !== name);
    const empty = managed.domains.length === 0;
    if (empty) this.#byName.delete(managed.name);
    return { managed, empty };
  }

  /** The certificate serving a TLS server name: exact first, then `*.` one label up. */
  lookup(serverName: string): Managed | undefined {
    const name = clean(serverName);
    const exact = this.#byDomain.get(name);
    if (exact) return exact;
    const dot = name.indexOf(".");
    return dot > 0 ? this.#byDomain.get(`*${name.slice(dot)}`) : undefined;
  }
}
