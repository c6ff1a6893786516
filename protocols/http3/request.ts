/**
 * HTTP/3 message heads: request pseudo-header validation (RFC 9114 §4.3.1, CONNECT §4.4, extended
 * CONNECT RFC 9220), response field sections (§4.3.2), and the fields HTTP/3 forbids (§4.2).
 * Violations are `H3_MESSAGE_ERROR`, a stream error: reset the stream, the connection stays.
 * @module
 */
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import { isValidValue, nameProblem, quote } from "./_fields.ts";
import type { HeaderField } from "./qpack.ts";

/** Connection-specific fields, which HTTP/3 messages must not carry (RFC 9114 §4.2). */
export const CONNECTION_SPECIFIC_FIELDS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/** A validated request head. */
export interface RequestHead {
  /** `:method`, such as `"GET"` or `"CONNECT"`. */
  method: string;
  /** `:scheme`; absent for plain CONNECT. */
  scheme: string | undefined;
  /** `:authority`, or the `host` field when `:authority` is absent. */
  authority: string | undefined;
  /** `:path`; absent for plain CONNECT. */
  path: string | undefined;
  /** `:protocol` of an extended CONNECT (RFC 9220), such as `"websocket"` or `"connect-udp"`. */
  protocol: string | undefined;
  /** The regular fields in order, with `cookie` fields joined by `"; "` (RFC 9114 §4.2.1). */
  headers: [string, string][];
  /** The `content-length` value, if present. */
  contentLength: number | undefined;
}

/** Options for {@linkcode parseRequestHead}. */
export interface ParseRequestOptions {
  /** We advertised `SETTINGS_ENABLE_CONNECT_PROTOCOL`, so `:protocol` is allowed. @default {false} */
  enableConnectProtocol?: boolean;
}

const REQUEST_PSEUDO: ReadonlySet<string> = new Set([":method", ":scheme", ":authority", ":path", ":protocol"]);

/**
 * Validates a decoded request field section and splits it into pseudo-headers and regular fields.
 *
 * @example A GET and a CONNECT
 * ```ts
 * import { parseRequestHead } from "./request.ts";
 * const get = parseRequestHead([
 *   { name: ":method", value: "GET" }, { name: ":scheme", value: "https" },
 *   { name: ":authority", value: "example.com" }, { name: ":path", value: "/" },
 *   { name: "accept", value: "*\/*" },
 * ]);
 * console.assert(get.path === "/" && get.headers[0][0] === "accept");
 * const connect = parseRequestHead([{ name: ":method", value: "CONNECT" }, { name: ":authority", value: "db:5432" }]);
 * console.assert(connect.authority === "db:5432" && connect.path === undefined);
 * ```
 * @param fields The fields from {@linkcode decodeFieldSection}.
 * @param options Whether extended CONNECT is enabled.
 * @returns The request head.
 * @throws {Http3Error} `H3_MESSAGE_ERROR` for a malformed request.
 */
export function parseRequestHead(fields: readonly HeaderField[], options: ParseRequestOptions = {}): RequestHead {
  const { enableConnectProtocol = false } = options;
  const pseudo = new Map<string, string>();
  const { headers, contentLength } = regularFields(fields, "request", (name, value) => {
    if (!REQUEST_PSEUDO.has(name)) throw malformed("request", `pseudo-header ${quote(name)} is not allowed`);
    if (pseudo.has(name)) throw malformed("request", `pseudo-header ${quote(name)} appears twice`);
    pseudo.set(name, value);
  });
  const method = pseudo.get(":method");
  const scheme = pseudo.get(":scheme");
  const path = pseudo.get(":path");
  const protocol = pseudo.get(":protocol");
  let authority = pseudo.get(":authority");
  if (method === undefined) throw malformed("request", "the :method pseudo-header is missing");
  if (method === "" || nameProblem(method) === "invalid" || method.startsWith(":")) {
    throw malformed("request", `:method ${quote(method)} is not a token`);
  }
  const host = headers.find(([name]) => name === "host")?.[1];
  if (authority !== undefined && host !== undefined && authority !== host) {
    throw malformed("request", `:authority ${quote(authority)} and host ${quote(host)} differ`);
  }
  authority ??= host;
  if (protocol !== undefined) {
    if (!enableConnectProtocol) {
      throw malformed(
        "request",
        ":protocol needs extended CONNECT, which is not enabled (SETTINGS_ENABLE_CONNECT_PROTOCOL)",
      );
    }
    if (method !== "CONNECT") throw malformed("request", `:protocol is only allowed with CONNECT, not ${method}`);
    if (!scheme || !path || !authority) {
      throw malformed("request", "an extended CONNECT needs :scheme, :path and :authority");
    }
  } else if (method === "CONNECT") {
    if (scheme !== undefined || path !== undefined) {
      throw malformed("request", "a CONNECT request must not have :scheme or :path");
    }
    if (!authority) throw malformed("request", "a CONNECT request needs :authority");
  } else {
    if (!scheme) throw malformed("request", "the :scheme pseudo-header is missing or empty");
    if (!path) throw malformed("request", "the :path pseudo-header is missing or empty");
    if (scheme === "http" || scheme === "https") {
      if (!authority) throw malformed("request", `an ${scheme} request needs :authority or host`);
      if (path === "*" ? method !== "OPTIONS" : !path.startsWith("/")) {
        throw malformed("request", `:path ${quote(path)} must start with "/" (or be "*" for OPTIONS)`);
      }
    }
  }
  return { method, scheme, authority, path, protocol, headers, contentLength };
}

/** A validated response head. */
export interface ResponseHead {
  /** The status code, 100–599. */
  status: number;
  /** The regular fields in order, with `cookie` fields joined by `"; "`. */
  headers: [string, string][];
  /** The `content-length` value, if present. */
  contentLength: number | undefined;
}

/**
 * Validates a decoded response field section (for the client side, such as a tunnel's CONNECT).
 *
 * @example A 200
 * ```ts
 * import { parseResponseHead } from "./request.ts";
 * console.assert(parseResponseHead([{ name: ":status", value: "200" }]).status === 200);
 * ```
 * @param fields The fields from {@linkcode decodeFieldSection}.
 * @returns The response head.
 * @throws {Http3Error} `H3_MESSAGE_ERROR` for a malformed response.
 */
export function parseResponseHead(fields: readonly HeaderField[]): ResponseHead {
  let status: string | undefined;
  const { headers, contentLength } = regularFields(fields, "response", (name, value) => {
    if (name !== ":status") throw malformed("response", `pseudo-header ${quote(name)} is not allowed`);
    if (status !== undefined) throw malformed("response", 'pseudo-header ":status" appears twice');
    status = value;
  });
  if (status === undefined) throw malformed("response", "the :status pseudo-header is missing");
  if (!/^[1-5]\d\d$/.test(status)) throw malformed("response", `:status ${quote(status)} is not a status code`);
  return { status: Number(status), headers, contentLength };
}

/**
 * Validates a trailer section: regular fields only (RFC 9114 §4.1).
 *
 * @param fields The fields from {@linkcode decodeFieldSection}.
 * @returns The fields as `[name, value]` pairs.
 * @throws {Http3Error} `H3_MESSAGE_ERROR` for a pseudo-header or a connection-specific field.
 */
export function parseTrailers(fields: readonly HeaderField[]): [string, string][] {
  return regularFields(fields, "trailer section", (name) => {
    throw malformed("trailer section", `pseudo-header ${quote(name)} is not allowed`);
  }).headers;
}

/**
 * Builds a response field section: `:status` first, then the headers with names lowercased and the
 * connection-specific fields dropped, including those named by a `connection` field (RFC 9110 §7.6.1).
 *
 * @example From a fetch-style Headers object
 * ```ts
 * import { buildResponseFields } from "./request.ts";
 * const fields = buildResponseFields(200, new Headers({ "Content-Type": "text/plain", connection: "close" }));
 * console.assert(fields.length === 2 && fields[0].value === "200" && fields[1].name === "content-type");
 * ```
 * @param status The status code, 100–599 except 101 (HTTP/3 has no Switching Protocols).
 * @param headers The response's fields, such as a `Headers` object.
 * @returns The fields, for {@linkcode encodeFieldSection}.
 * @throws {RangeError} If `status` is out of range.
 * @throws {TypeError} If a header name is a pseudo-header.
 */
export function buildResponseFields(
  status: number,
  headers: Iterable<readonly [string, string]> = [],
): HeaderField[] {
  if (!Number.isInteger(status) || status < 100 || status > 599 || status === 101) {
    throw new RangeError(
      `Cannot build response as 'status' must be an integer from 100 to 599 other than 101: current value is ${status}`,
    );
  }
  return [{ name: ":status", value: String(status) }, ...withoutConnectionFields("response", headers)];
}

/** The pseudo-headers of a request to build with {@linkcode buildRequestFields}. */
export interface RequestPseudoHeaders {
  /** `:method`. */
  method: string;
  /** `:scheme`; leave it out for a plain CONNECT. */
  scheme?: string;
  /** `:authority`. */
  authority?: string;
  /** `:path`; leave it out for a plain CONNECT. */
  path?: string;
  /** `:protocol`, for an extended CONNECT. */
  protocol?: string;
}

/**
 * Builds a request field section (for the client side): the pseudo-headers first, then the headers
 * with names lowercased and connection-specific fields dropped.
 *
 * @example A CONNECT to open a tunnel
 * ```ts
 * import { buildRequestFields } from "./request.ts";
 * const fields = buildRequestFields({ method: "CONNECT", authority: "db.internal:5432" });
 * console.assert(fields.length === 2 && fields[1].name === ":authority");
 * ```
 * @param head The pseudo-headers.
 * @param headers The regular fields.
 * @returns The fields, for {@linkcode encodeFieldSection}.
 * @throws {TypeError} If a header name is a pseudo-header.
 */
export function buildRequestFields(
  head: RequestPseudoHeaders,
  headers: Iterable<readonly [string, string]> = [],
): HeaderField[] {
  const fields: HeaderField[] = [{ name: ":method", value: head.method }];
  if (head.protocol !== undefined) fields.push({ name: ":protocol", value: head.protocol });
  if (head.scheme !== undefined) fields.push({ name: ":scheme", value: head.scheme });
  if (head.authority !== undefined) fields.push({ name: ":authority", value: head.authority });
  if (head.path !== undefined) fields.push({ name: ":path", value: head.path });
  return [...fields, ...withoutConnectionFields("request", headers)];
}

function withoutConnectionFields(what: string, headers: Iterable<readonly [string, string]>): HeaderField[] {
  const pairs = [...headers];
  const dropped = new Set(CONNECTION_SPECIFIC_FIELDS);
  for (const [name, value] of pairs) {
    if (name.toLowerCase() !== "connection") continue;
    for (const token of value.split(",")) dropped.add(token.trim().toLowerCase());
  }
  const fields: HeaderField[] = [];
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (lower.startsWith(":")) throw new TypeError(`Cannot build ${what}: header ${quote(name)} is a pseudo-header`);
    if (dropped.has(lower)) continue;
    if (lower === "te" && (what === "response" || value.trim().toLowerCase() !== "trailers")) continue;
    fields.push({ name: lower, value });
  }
  return fields;
}

function regularFields(
  fields: readonly HeaderField[],
  what: string,
  onPseudo: (name: string, value: string) => void,
): { headers: [string, string][]; contentLength: number | undefined } {
  const headers: [string, string][] = [];
  const cookies: string[] = [];
  let contentLength: number | undefined;
  for (const { name, value } of fields) {
    if (nameProblem(name) !== undefined || !isValidValue(value)) {
      throw malformed(what, `field ${quote(name)} has a bad name or value`);
    }
    if (name.startsWith(":")) {
      if (headers.length > 0 || cookies.length > 0) {
        throw malformed(what, `pseudo-header ${quote(name)} follows a regular field`);
      }
      onPseudo(name, value);
    } else if (CONNECTION_SPECIFIC_FIELDS.has(name) || (name === "te" && value !== "trailers")) {
      throw malformed(what, `connection-specific field ${quote(name)} is not allowed`);
    } else if (name === "cookie") {
      cookies.push(value);
    } else {
      if (name === "content-length") contentLength = parseContentLength(what, value, contentLength);
      headers.push([name, value]);
    }
  }
  if (cookies.length > 0) headers.push(["cookie", cookies.join("; ")]);
  return { headers, contentLength };
}

function parseContentLength(what: string, value: string, previous: number | undefined): number {
  let result = previous;
  for (const part of value.split(",")) {
    const text = part.trim();
    const n = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
    if (Number.isNaN(n) || (result !== undefined && n !== result)) {
      throw malformed(what, `content-length ${quote(value)} is invalid or conflicts`);
    }
    result = n;
  }
  return result!;
}

function malformed(what: string, reason: string): Http3Error {
  return new Http3Error(Http3ErrorCode.H3_MESSAGE_ERROR, `Malformed ${what}: ${reason}`);
}
