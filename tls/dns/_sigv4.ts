/**
 * Internal: AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for requests sent with `fetch`:
 * canonical request, string to sign, the derived signing key and the `Authorization` header.
 * The `host` header comes from the URL, as `fetch` sends it; `x-amz-date` (and
 * `x-amz-security-token` with temporary credentials) are added and signed.
 * @module
 */
import { percentEncode } from "./_percent_encode.ts";

/** AWS credentials. */
export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A request to sign. */
export interface SigV4Request {
  method: string;
  url: string | URL;
  /** Headers to send and sign besides `host` and `x-amz-date`. */
  headers?: Record<string, string>;
  body?: string;
}

/** Where and when the request is signed. */
export interface SigV4Scope {
  region: string;
  service: string;
  date: Date;
}

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex SHA-256 of `text`. */
export async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function hmac(key: Uint8Array<ArrayBuffer>, data: string): Promise<Uint8Array<ArrayBuffer>> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(data)));
}

/** `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyymmdd), region), service), "aws4_request")`. */
export async function deriveSigningKey(
  secretAccessKey: string,
  yyyymmdd: string,
  region: string,
  service: string,
): Promise<Uint8Array<ArrayBuffer>> {
  let key = await hmac(encoder.encode(`AWS4${secretAccessKey}`), yyyymmdd);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  return key;
}

/** `20150830T123600Z` for a date. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

/** The canonical query string: names and values decoded, RFC 3986-encoded, sorted by name, then value. */
export function canonicalQuery(search: string): string {
  return search.replace(/^\?/, "").split("&").filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf("=");
      const [name, value] = eq < 0 ? [pair, ""] : [pair.slice(0, eq), pair.slice(eq + 1)];
      return [percentEncode(decodeURIComponent(name)), percentEncode(decodeURIComponent(value))];
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/**
 * The canonical request and its signed header list. The path is encoded once more on top of
 * the URL's own encoding, as every service but S3 expects.
 */
export function canonicalRequest(
  method: string,
  url: URL,
  headers: Record<string, string>,
  payloadHash: string,
): { canonical: string; signedHeaders: string } {
  const names = Object.keys(headers).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([n, v]) => [n.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${lower[n].trim().replace(/\s+/g, " ")}\n`).join("");
  const signedHeaders = names.join(";");
  const path = url.pathname.split("/").map(percentEncode).join("/") || "/";
  const canonical = [
    method.toUpperCase(),
    path,
    canonicalQuery(url.search),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ]
    .join("\n");
  return { canonical, signedHeaders };
}

/**
 * Signs `request` and returns the headers to send with it (the caller's, `x-amz-date`,
 * `x-amz-security-token` when there is a session token, and `authorization`; not `host`,
 * which `fetch` derives from the URL).
 */
export async function signRequest(
  request: SigV4Request,
  credentials: SigV4Credentials,
  scope: SigV4Scope,
): Promise<Record<string, string>> {
  const url = new URL(request.url);
  const stamp = amzDate(scope.date);
  const day = stamp.slice(0, 8);
  const headers: Record<string, string> = { ...request.headers, "x-amz-date": stamp };
  if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
  const payloadHash = await sha256Hex(request.body ?? "");
  const { canonical, signedHeaders } = canonicalRequest(
    request.method,
    url,
    { ...headers, host: url.host },
    payloadHash,
  );
  const credentialScope = `${day}/${scope.region}/${scope.service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", stamp, credentialScope, await sha256Hex(canonical)].join("\n");
  const key = await deriveSigningKey(credentials.secretAccessKey, day, scope.region, scope.service);
  const signature = hex((await hmac(key, toSign)).buffer);
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${credentialScope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
