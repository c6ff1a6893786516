/**
 * {@linkcode ConnectAllowList}: which `host:port` targets HTTP CONNECT tunnels may reach.
 * @module
 */

interface Pattern {
  /** `*` (any), `*.suffix` (any subdomain of suffix), or an exact lower-case host. */
  readonly host: string;
  readonly minPort: number;
  readonly maxPort: number;
}

function portOf(text: string, pattern: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new RangeError(
      `Cannot parse CONNECT allow pattern "${pattern}": port must be "*", N or N-M with N from 1 to 65535: current value is "${text}"`,
    );
  }
  return port;
}

function parsePattern(pattern: string): Pattern {
  const text = pattern.trim();
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new TypeError(
        `Cannot parse CONNECT allow pattern "${pattern}": expected "[ipv6]:port", for example "[::1]:22"`,
      );
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    host = colon < 0 ? "" : text.slice(0, colon);
    portText = colon < 0 ? "" : text.slice(colon + 1);
    if (host === "" || host.includes(":")) {
      throw new TypeError(
        `Cannot parse CONNECT allow pattern "${pattern}": expected "host:port", for example "db.internal:5432", "*.example.com:443" or "127.0.0.1:*"`,
      );
    }
  }
  if (host.includes("*") && host !== "*" && !/^\*\.[^*]+$/.test(host)) {
    throw new TypeError(
      `Cannot parse CONNECT allow pattern "${pattern}": a wildcard host must be "*" or "*.suffix", for example "*.example.com"`,
    );
  }
  if (portText === "*") return { host: host.toLowerCase(), minPort: 1, maxPort: 65535 };
  const range = /^(\d+)-(\d+)$/.exec(portText);
  const minPort = portOf(range ? range[1] : portText, pattern);
  const maxPort = range ? portOf(range[2], pattern) : minPort;
  if (minPort > maxPort) {
    throw new RangeError(`Cannot parse CONNECT allow pattern "${pattern}": the port range "${portText}" is empty`);
  }
  return { host: host.toLowerCase(), minPort, maxPort };
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

/**
 * An allow-list of CONNECT targets. Each pattern is `host:port` where the host is an exact name or
 * IP (IPv6 in brackets), `*` or `*.suffix`, and the port is a number, a range `N-M` or `*`.
 * Matching compares the host the client asked for, case-insensitively; it does not resolve names.
 * An empty list allows nothing.
 *
 * @example Allow SSH on one host and HTTPS on a domain
 * ```ts
 * import { ConnectAllowList } from "./connect_allow.ts";
 * const allow = new ConnectAllowList(["10.0.0.5:22", "*.example.com:443"]);
 * console.assert(allow.allows("api.example.com", 443));
 * console.assert(!allow.allows("example.com", 443));
 * console.assert(!allow.allows("10.0.0.5", 23));
 * ```
 */
export class ConnectAllowList {
  readonly #patterns: readonly Pattern[];

  /**
   * Parses the patterns.
   *
   * @param patterns `host:port` patterns.
   * @throws {TypeError} If a pattern is not `host:port` or has a malformed wildcard.
   * @throws {RangeError} If a port or port range is outside 1–65535.
   */
  constructor(patterns: readonly string[] = []) {
    this.#patterns = patterns.map(parsePattern);
  }

  /** How many patterns the list holds; 0 means every CONNECT is refused. */
  get size(): number {
    return this.#patterns.length;
  }

  /**
   * Tells whether a tunnel to `hostname:port` is allowed.
   *
   * @param hostname The host the client asked for (IPv6 without brackets).
   * @param port The port the client asked for.
   * @returns True when a pattern matches.
   */
  allows(hostname: string, port: number): boolean {
    const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
    return this.#patterns.some((p) => port >= p.minPort && port <= p.maxPort && hostMatches(p.host, host));
  }
}
