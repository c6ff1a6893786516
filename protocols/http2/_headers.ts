/**
 * Internal: header rewriting for a reverse proxy. Hop-by-hop fields go (RFC 9110 §7.6.1), the
 * `X-Forwarded-*` and `Forwarded` (RFC 7239) fields come, `:authority` and `Host` map to each other.
 * @module
 */

/** Header fields as `node:http`/`node:http2` give them: lower-case names, repeated fields as arrays. */
export type HeaderMap = Record<string, string | string[]>;

/** Loosely typed incoming headers (`IncomingHttpHeaders` of either module). */
export type AnyHeaders = Record<string, string | string[] | number | undefined>;

/**
 * Fields that describe one connection, never forwarded (RFC 9110 §7.6.1 and Go's ReverseProxy
 * list), plus `http2-settings` (h2c upgrade) and `expect` (the proxy answers `100-continue` itself).
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
  "http2-settings",
  "expect",
]);

function listOf(value: AnyHeaders[string]): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [String(value)]).flatMap((v) => v.split(","))
    .map((v) => v.trim().toLowerCase()).filter((v) => v !== "");
}

/** The end-to-end fields of `headers`: no pseudo-headers, no hop-by-hop ones, none named in `Connection`. */
export function endToEnd(headers: AnyHeaders): HeaderMap {
  const named = new Set(listOf(headers.connection));
  const out: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":")) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out[lower] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return out;
}

/** True when the client said it accepts trailers (`TE: trailers`), which gRPC requires end to end. */
export function acceptsTrailers(headers: AnyHeaders): boolean {
  return listOf(headers.te).some((v) => v === "trailers" || v.startsWith("trailers;"));
}

/** Who asked, as the `X-Forwarded-*` and `Forwarded` fields describe it. */
export interface ForwardedFor {
  /** The client's IP as the socket reports it (an IPv4-mapped IPv6 address is shown as IPv4). */
  readonly clientIp: string | undefined;
  /** How the client reached us. */
  readonly proto: "http" | "https";
  /** The `Host`/`:authority` the client asked for. */
  readonly host: string | undefined;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function quoted(value: string): string {
  return TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/** Strips the `::ffff:` of an IPv4-mapped IPv6 address. */
export function plainIp(ip: string | undefined): string | undefined {
  return ip?.replace(/^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i, "$1");
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * Adds `X-Forwarded-For` (appended to what the client sent), `X-Forwarded-Proto`, `X-Forwarded-Host`
 * (both replaced) and a `Forwarded` element (RFC 7239, appended) to `headers`, in place.
 */
export function addForwarded(headers: HeaderMap, by: ForwardedFor): void {
  const ip = plainIp(by.clientIp);
  const previous = joined(headers["x-forwarded-for"]);
  if (ip) headers["x-forwarded-for"] = previous ? `${previous}, ${ip}` : ip;
  headers["x-forwarded-proto"] = by.proto;
  if (by.host) headers["x-forwarded-host"] = by.host;
  const node = ip === undefined ? "unknown" : ip.includes(":") ? `"[${ip}]"` : ip;
  const element = [`for=${node}`, by.host ? `host=${quoted(by.host)}` : "", `proto=${by.proto}`]
    .filter((p) => p !== "").join(";");
  const earlier = joined(headers.forwarded);
  headers.forwarded = earlier ? `${earlier}, ${element}` : element;
}

/** Headers of one request as the upstream gets them. */
export interface UpstreamHead {
  readonly method: string;
  /** Origin-form path (`/x?y`), or `*` for `OPTIONS *`. */
  readonly path: string;
  /** The `Host` / `:authority` to send (the client's, unchanged). */
  readonly authority: string;
  /** End-to-end fields plus the forwarding ones; no `host`. */
  readonly headers: HeaderMap;
  /** Short text for messages: `"GET /path"`. */
  readonly label: string;
}

/** What {@linkcode requestHead} needs to know about the client request. */
export interface ClientRequestInfo {
  readonly method: string;
  readonly url: string;
  readonly headers: AnyHeaders;
  readonly clientIp: string | undefined;
  readonly proto: "http" | "https";
  /** Used when the client sent neither `:authority` nor `Host`. */
  readonly fallbackAuthority: string;
}

/**
 * Builds the upstream request head: absolute-form URLs become origin-form, `:authority` (h2) or
 * `Host` (h1) becomes the upstream authority, hop-by-hop fields go, `TE: trailers` stays when asked.
 */
export function requestHead(info: ClientRequestInfo): UpstreamHead {
  let path = info.url || "/";
  let authority = String(info.headers[":authority"] ?? info.headers.host ?? "");
  const url = /^https?:\/\//i.test(path) && URL.canParse(path) ? new URL(path) : undefined;
  if (url) {
    path = url.pathname + url.search;
    authority ||= url.host;
  }
  authority ||= info.fallbackAuthority;
  const headers = endToEnd(info.headers);
  delete headers.host;
  if (acceptsTrailers(info.headers)) headers.te = "trailers";
  addForwarded(headers, { clientIp: info.clientIp, proto: info.proto, host: authority });
  const label = `${info.method} ${path.length > 64 ? `${path.slice(0, 61)}...` : path}`;
  return { method: info.method, path, authority, headers, label };
}

/** Response fields to pass on: end-to-end ones, plus `Alt-Svc` when configured. */
export function responseHeaders(headers: AnyHeaders, altSvc: string | undefined): HeaderMap {
  const out = endToEnd(headers);
  if (altSvc) out["alt-svc"] = altSvc;
  return out;
}

/** Trailer fields to pass on, or `undefined` when there are none. */
export function trailerFields(trailers: AnyHeaders | undefined): HeaderMap | undefined {
  if (!trailers) return undefined;
  const out = endToEnd(trailers);
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Serializes an HTTP/1.1 request head; refuses CR, LF and NUL in any part. */
export function formatRequestHead(method: string, path: string, headers: HeaderMap): string {
  const bad = /[\r\n\0]/;
  if (bad.test(method) || bad.test(path) || /\s/.test(path)) {
    throw new TypeError(`Cannot send request "${method} ${path}": invalid characters in the request line`);
  }
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (bad.test(name) || bad.test(one)) {
        throw new TypeError(`Cannot send header "${name}": invalid characters in its name or value`);
      }
      head += `${name}: ${one}\r\n`;
    }
  }
  return `${head}\r\n`;
}
