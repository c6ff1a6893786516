/**
 * The HMAC challenge-response of PROTOCOL.md section 3: the token never crosses the wire. Both
 * sides build the same transcript from the handshake; the client proves it knows the token with
 * `HMAC-SHA256(token, "client" || 0x00 || transcript)`, the server with the `"server"` label.
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { BASE64URL_32_PATTERN } from "./messages.ts";

/** The protocol id: the ALPN value and the first field of the transcript. */
export const TUNNEL_PROTOCOL_ID = "ts-tunnel/1";
/** Bytes of randomness in a nonce. */
export const NONCE_BYTES = 32;
/** Bytes of randomness in a session id made by {@linkcode randomSessionId}. */
export const SESSION_ID_BYTES = 18;

/** The handshake values the MACs cover. */
export interface AuthTranscriptParams {
  /** The client's id from `hello`. */
  clientId: string;
  /** The session id from `challenge`. */
  sessionId: string;
  /** The negotiated capabilities (from `challenge`), in order. */
  capabilities: readonly string[];
  /** `hello.clientNonce`, base64url. */
  clientNonce: string;
  /** `challenge.serverNonce`, base64url. */
  serverNonce: string;
}

/**
 * Returns 32 bytes from a CSPRNG in unpadded base64url (43 characters): a fresh nonce.
 *
 * @returns The nonce.
 */
export function randomNonce(): string {
  return randomBytes(NONCE_BYTES).toString("base64url");
}

/**
 * Returns a new session id: 18 bytes from a CSPRNG in base64url (24 characters).
 *
 * @returns The session id, matching `SESSION_ID_PATTERN`.
 */
export function randomSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString("base64url");
}

function decodeNonce(value: string, name: string): Buffer {
  if (!BASE64URL_32_PATTERN.test(value)) {
    throw new TypeError(
      `Cannot build the auth transcript as '${name}' must be 32 bytes in base64url: current value is "${value}"`,
    );
  }
  return Buffer.from(value, "base64url");
}

/**
 * Builds the transcript of PROTOCOL.md section 3:
 * `"ts-tunnel/1" || 0x00 || clientId || 0x00 || sessionId || 0x00 || caps || 0x00 || cn || sn`,
 * where `caps` are the capabilities joined by `,` and `cn`/`sn` the decoded nonces.
 *
 * @example Build a transcript
 * ```ts
 * import assert from "node:assert/strict";
 * import { authTranscript } from "./auth.ts";
 * const nonce = "A".repeat(43);
 * const t = authTranscript({ clientId: "c", sessionId: "s", capabilities: ["a", "b"], clientNonce: nonce, serverNonce: nonce });
 * assert.equal(t.byteLength, 11 + 1 + 1 + 1 + 1 + 1 + 3 + 1 + 64);
 * ```
 * @param params The handshake values.
 * @returns The transcript bytes.
 * @throws {TypeError} If a nonce is not 32 bytes of canonical base64url.
 */
export function authTranscript(params: AuthTranscriptParams): Uint8Array {
  const cn = decodeNonce(params.clientNonce, "clientNonce");
  const sn = decodeNonce(params.serverNonce, "serverNonce");
  const text = Buffer.from(
    `${TUNNEL_PROTOCOL_ID}\0${params.clientId}\0${params.sessionId}\0${params.capabilities.join(",")}\0`,
    "utf8",
  );
  const out = new Uint8Array(text.byteLength + cn.byteLength + sn.byteLength);
  out.set(text, 0);
  out.set(cn, text.byteLength);
  out.set(sn, text.byteLength + cn.byteLength);
  return out;
}

function mac(label: "client" | "server", token: string | Uint8Array, transcript: Uint8Array): string {
  return createHmac("sha256", token).update(`${label}\0`).update(transcript).digest("base64url");
}

/**
 * The client's proof: `HMAC-SHA256(token, "client" || 0x00 || transcript)`, base64url.
 *
 * @param token The client's token (a UTF-8 string or raw bytes).
 * @param transcript From {@linkcode authTranscript}.
 * @returns The MAC for `auth.mac`.
 */
export function clientMac(token: string | Uint8Array, transcript: Uint8Array): string {
  return mac("client", token, transcript);
}

/**
 * The server's proof: `HMAC-SHA256(token, "server" || 0x00 || transcript)`, base64url.
 *
 * @param token The client's token (a UTF-8 string or raw bytes).
 * @param transcript From {@linkcode authTranscript}.
 * @returns The MAC for `welcome.serverMac`.
 */
export function serverMac(token: string | Uint8Array, transcript: Uint8Array): string {
  return mac("server", token, transcript);
}

const MAC_BYTES = 32;

/**
 * Compares a received MAC with the expected one in constant time. A MAC of the wrong length or
 * encoding is compared against a dummy of the right length (the same work), then rejected.
 *
 * @example Check a client's MAC
 * ```ts
 * import assert from "node:assert/strict";
 * import { verifyMac } from "./auth.ts";
 * const mac = "q".repeat(42) + "A";
 * assert.ok(verifyMac(mac, mac));
 * assert.ok(!verifyMac(mac, "r".repeat(42) + "A"));
 * assert.ok(!verifyMac(mac, "short"));
 * ```
 * @param expected The MAC this side computed.
 * @param actual The MAC the peer sent.
 * @returns True when they are equal.
 */
export function verifyMac(expected: string, actual: string): boolean {
  const want = Buffer.from(expected, "base64url");
  const got = Buffer.from(actual, "base64url");
  const wellFormed = want.byteLength === MAC_BYTES && got.byteLength === MAC_BYTES &&
    got.toString("base64url") === actual;
  const other = got.byteLength === want.byteLength ? got : Buffer.alloc(want.byteLength);
  const equal = timingSafeEqual(want, other);
  return equal && wellFormed;
}
