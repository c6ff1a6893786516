/**
 * Internal: RFC 3986 percent-encoding, as both AWS Signature V4 and Alibaba Cloud's RPC
 * signature require: everything but `A-Z a-z 0-9 - _ . ~` is encoded, as UTF-8, in upper case.
 * @module
 */

/** Percent-encodes `text`, leaving only RFC 3986 unreserved characters as they are. */
export function percentEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
