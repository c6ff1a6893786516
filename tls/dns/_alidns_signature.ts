/**
 * Internal: Alibaba Cloud's RPC-style request signature, version 1.0 with HMAC-SHA1, as the
 * "Signature method" page documents it:
 * 1. percent-encode each parameter name and value ({@linkcode percentEncode});
 * 2. sort by name and join as `name=value` with `&` (the canonicalized query string);
 * 3. `StringToSign = "GET&%2F&" + percentEncode(canonicalized)`;
 * 4. `Signature = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))`.
 * @module
 */
import { percentEncode } from "./_percent_encode.ts";

/** The canonicalized query string: encoded `name=value` pairs, sorted by name, joined with `&`. */
export function canonicalizedQuery(params: Record<string, string>): string {
  return Object.keys(params)
    .map((name) => [percentEncode(name), percentEncode(params[name])])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** The string to sign for a request with `method` (`GET`) and `params` (without `Signature`). */
export function stringToSign(method: string, params: Record<string, string>): string {
  return `${method}&${percentEncode("/")}&${percentEncode(canonicalizedQuery(params))}`;
}

/** The base64 `Signature` of a request, keyed with `accessKeySecret + "&"`. */
export async function signRpcRequest(
  method: string,
  params: Record<string, string>,
  accessKeySecret: string,
): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(`${accessKeySecret}&`),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(stringToSign(method, params))));
  return btoa(String.fromCharCode(...mac));
}
