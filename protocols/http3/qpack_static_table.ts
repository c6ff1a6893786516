/**
 * The QPACK static table (RFC 9204 Appendix A): 99 fields, indexed from 0.
 * @module
 */

/** The static table: `[name, value]` at each index 0–98. */
// deno-fmt-ignore
export const QPACK_STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""], [":path", "/"], ["age", "0"], ["content-disposition", ""], ["content-length", "0"],
  ["cookie", ""], ["date", ""], ["etag", ""], ["if-modified-since", ""], ["if-none-match", ""],
  ["last-modified", ""], ["link", ""], ["location", ""], ["referer", ""], ["set-cookie", ""],
  [":method", "CONNECT"], [":method", "DELETE"], [":method", "GET"], [":method", "HEAD"],
  [":method", "OPTIONS"], [":method", "POST"], [":method", "PUT"], [":scheme", "http"], [":scheme", "https"],
  [":status", "103"], [":status", "200"], [":status", "304"], [":status", "404"], [":status", "503"],
  ["accept", "*/*"], ["accept", "application/dns-message"], ["accept-encoding", "gzip, deflate, br"],
  ["accept-ranges", "bytes"], ["access-control-allow-headers", "cache-control"],
  ["access-control-allow-headers", "content-type"], ["access-control-allow-origin", "*"],
  ["cache-control", "max-age=0"], ["cache-control", "max-age=2592000"], ["cache-control", "max-age=604800"],
  ["cache-control", "no-cache"], ["cache-control", "no-store"], ["cache-control", "public, max-age=31536000"],
  ["content-encoding", "br"], ["content-encoding", "gzip"], ["content-type", "application/dns-message"],
  ["content-type", "application/javascript"], ["content-type", "application/json"],
  ["content-type", "application/x-www-form-urlencoded"], ["content-type", "image/gif"],
  ["content-type", "image/jpeg"], ["content-type", "image/png"], ["content-type", "text/css"],
  ["content-type", "text/html; charset=utf-8"], ["content-type", "text/plain"],
  ["content-type", "text/plain;charset=utf-8"], ["range", "bytes=0-"],
  ["strict-transport-security", "max-age=31536000"],
  ["strict-transport-security", "max-age=31536000; includesubdomains"],
  ["strict-transport-security", "max-age=31536000; includesubdomains; preload"],
  ["vary", "accept-encoding"], ["vary", "origin"], ["x-content-type-options", "nosniff"],
  ["x-xss-protection", "1; mode=block"], [":status", "100"], [":status", "204"], [":status", "206"],
  [":status", "302"], [":status", "400"], [":status", "403"], [":status", "421"], [":status", "425"],
  [":status", "500"], ["accept-language", ""], ["access-control-allow-credentials", "FALSE"],
  ["access-control-allow-credentials", "TRUE"], ["access-control-allow-headers", "*"],
  ["access-control-allow-methods", "get"], ["access-control-allow-methods", "get, post, options"],
  ["access-control-allow-methods", "options"], ["access-control-expose-headers", "content-length"],
  ["access-control-request-headers", "content-type"], ["access-control-request-method", "get"],
  ["access-control-request-method", "post"], ["alt-svc", "clear"], ["authorization", ""],
  ["content-security-policy", "script-src 'none'; object-src 'none'; base-uri 'none'"], ["early-data", "1"],
  ["expect-ct", ""], ["forwarded", ""], ["if-range", ""], ["origin", ""], ["purpose", "prefetch"],
  ["server", ""], ["timing-allow-origin", "*"], ["upgrade-insecure-requests", "1"], ["user-agent", ""],
  ["x-forwarded-for", ""], ["x-frame-options", "deny"], ["x-frame-options", "sameorigin"],
];

/** Where a field is in the static table. */
export interface StaticTableMatch {
  /** Index of the first entry with this name. */
  nameIndex: number;
  /** Index of the entry with this name and value, if there is one. */
  index: number | undefined;
}

let byName: Map<string, { nameIndex: number; byValue: Map<string, number> }> | undefined;

/**
 * Looks a field up in the static table.
 *
 * @example Exact and name-only matches
 * ```ts
 * import { findStatic } from "./qpack_static_table.ts";
 * console.assert(findStatic(":status", "200")?.index === 25);
 * console.assert(findStatic(":status", "201")?.nameIndex === 24);
 * console.assert(findStatic("x-custom", "1") === undefined);
 * ```
 * @param name A lowercase field name.
 * @param value The field value.
 * @returns The indexes, or `undefined` if no entry has this name.
 */
export function findStatic(name: string, value: string): StaticTableMatch | undefined {
  byName ??= buildIndex();
  const entry = byName.get(name);
  return entry && { nameIndex: entry.nameIndex, index: entry.byValue.get(value) };
}

function buildIndex(): Map<string, { nameIndex: number; byValue: Map<string, number> }> {
  const index = new Map<string, { nameIndex: number; byValue: Map<string, number> }>();
  QPACK_STATIC_TABLE.forEach(([name, value], i) => {
    let entry = index.get(name);
    if (!entry) index.set(name, entry = { nameIndex: i, byValue: new Map() });
    if (!entry.byValue.has(value)) entry.byValue.set(value, i);
  });
  return index;
}
