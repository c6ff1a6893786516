/**
 * The control messages of PROTOCOL.md section 2: their types, the frame encoder and a strict
 * parser. A frame is a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
 * @module
 */
import { Fields, isPlainObject, utf8Length } from "./_fields.ts";
import { TUNNEL_ERROR_NUMBERS, TunnelError, type TunnelErrorCode } from "./errors.ts";

/** Largest JSON body of a control message, in bytes (the 4-byte length prefix comes on top). */
export const MAX_MESSAGE_BYTES = 65_536;
/** Client ids: 1 to 64 characters from `[A-Za-z0-9._-]`. */
export const CLIENT_ID_PATTERN: RegExp = /^[A-Za-z0-9._-]{1,64}$/;
/** Session ids: 16 to 64 base64url characters. */
export const SESSION_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{16,64}$/;
/** Capability names: 1 to 64 characters from `[A-Za-z0-9._-]` (no comma: the transcript joins them with one). */
export const CAPABILITY_PATTERN: RegExp = /^[A-Za-z0-9._-]{1,64}$/;
/** 32 bytes in unpadded, canonical base64url (43 characters): nonces and MACs. */
export const BASE64URL_32_PATTERN: RegExp = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
/** Most capabilities in one message. */
export const MAX_CAPABILITIES = 32;
/** Most services (or names) in one `register`, `registered` or `unregister`. */
export const MAX_SERVICES_PER_MESSAGE = 256;
/** Longest service name, in UTF-8 bytes (the stream header's one-byte length). */
export const MAX_SERVICE_NAME_BYTES = 255;
/** Longest free-text field (`message`, `bindHost`), in characters. */
export const MAX_TEXT_CHARS = 1024;

/** First message, client to server. */
export interface HelloMessage {
  /** Always `"hello"`. */
  type: "hello";
  /** Highest protocol version the client speaks (1). */
  version: number;
  /** Features the client supports. */
  capabilities: string[];
  /** The client's id; the server looks its token up by it. */
  clientId: string;
  /** 32 random bytes, base64url. */
  clientNonce: string;
  /** Asks to resume a session that ended without `goaway`. */
  resume?: { sessionId: string };
}

/** Answer to `hello`, server to client. */
export interface ChallengeMessage {
  /** Always `"challenge"`. */
  type: "challenge";
  /** The protocol version of this session. */
  version: number;
  /** The capabilities both sides support. */
  capabilities: string[];
  /** 32 random bytes, base64url, fresh for every session. */
  serverNonce: string;
  /** A new session id, or the resumed one. */
  sessionId: string;
}

/** Answer to `challenge`, client to server: proof that the client knows its token. */
export interface AuthMessage {
  /** Always `"auth"`. */
  type: "auth";
  /** The client MAC of PROTOCOL.md section 3, base64url. */
  mac: string;
}

/** The inclusive range of public ports the server allows. */
export interface PortRange {
  /** Lowest allowed port, 1 to 65535. */
  min: number;
  /** Highest allowed port, at least `min`. */
  max: number;
}

/** The server's policy for this client. */
export interface TunnelLimits {
  /** Services this client may register. */
  maxServices: number;
  /** Concurrent public connections per service. */
  maxConnectionsPerService: number;
  /** The public ports this client may ask for. */
  portRange: PortRange;
}

/** Sent once the client authenticated, server to client. */
export interface WelcomeMessage {
  /** Always `"welcome"`. */
  type: "welcome";
  /** The server MAC of PROTOCOL.md section 3, base64url. */
  serverMac: string;
  /** Interval of `ping` messages, in milliseconds. */
  heartbeatMs: number;
  /** Unanswered pings after which the session counts as dead. */
  heartbeatMisses: number;
  /** The server's policy for this client. */
  limits: TunnelLimits;
  /** True when the session resumed and its services kept their ports. */
  resumed: boolean;
}

/** One service a client asks the server to expose. */
export interface ServiceRequest {
  /** The service's name, 1 to 255 bytes of UTF-8. */
  name: string;
  /** The public port; absent asks the server to pick one from its range. */
  remotePort?: number;
  /** PROXY protocol version the client writes towards its local target. */
  proxyProtocol?: "v1" | "v2";
}

/** Registers services, client to server. */
export interface RegisterMessage {
  /** Always `"register"`. */
  type: "register";
  /** The services to expose (at most 256). */
  services: ServiceRequest[];
}

/** Codes a refused service can carry: the section 7 codes plus the naming ones of section 4. */
export type ServiceErrorCode = TunnelErrorCode | "invalid_name" | "duplicate_name";

/** A service the server exposes. */
export interface ServiceAccepted {
  /** The service name from the request. */
  name: string;
  /** The public port now accepting connections. */
  remotePort: number;
  /** The host the public listener is bound to. */
  bindHost: string;
}

/** A service the server refused. */
export interface ServiceRefused {
  /** The service name from the request. */
  name: string;
  /** Why it was refused. */
  error: { code: ServiceErrorCode; message: string };
}

/** Answer to `register`, one result per requested service. */
export interface RegisteredMessage {
  /** Always `"registered"`. */
  type: "registered";
  /** One result per requested service, in order. */
  services: (ServiceAccepted | ServiceRefused)[];
}

/** Removes services, client to server. */
export interface UnregisterMessage {
  /** Always `"unregister"`. */
  type: "unregister";
  /** The services to remove (at most 256). */
  names: string[];
}

/** Heartbeat, either direction. */
export interface PingMessage {
  /** Always `"ping"`. */
  type: "ping";
  /** A u32 sequence number. */
  seq: number;
  /** The sender's clock, in milliseconds. */
  sentAt: number;
}

/** Answer to `ping`. */
export interface PongMessage {
  /** Always `"pong"`. */
  type: "pong";
  /** The `seq` of the answered `ping`. */
  seq: number;
}

/**
 * A pacing probe (capability `stream-pacing`, QUIC only), either direction: its round trip, sent
 * beside the sender's bulk data, steers the sender's pacing (section 7.2).
 */
export interface ProbeMessage {
  /** Always `"probe"`. */
  type: "probe";
  /** A u32 sequence number. */
  seq: number;
}

/** Answer to `probe`, sent at once. */
export interface ProbeAckMessage {
  /** Always `"probe_ack"`. */
  type: "probe_ack";
  /** The `seq` of the answered `probe`. */
  seq: number;
}

/** An error, before closing or for one request. */
export interface ErrorMessage {
  /** Always `"error"`. */
  type: "error";
  /** What went wrong. */
  code: TunnelErrorCode;
  /** A human-readable explanation (at most 1024 characters). */
  message: string;
}

/** Graceful end of a session. */
export interface GoawayMessage {
  /** Always `"goaway"`. */
  type: "goaway";
  /** Why the session ends (usually `shutting_down`). */
  code: TunnelErrorCode;
  /** A human-readable explanation (at most 1024 characters). */
  message: string;
  /** When the client may come back. */
  reconnectAfterMs?: number;
}

/** Every control message. */
export type ControlMessage =
  | HelloMessage
  | ChallengeMessage
  | AuthMessage
  | WelcomeMessage
  | RegisterMessage
  | RegisteredMessage
  | UnregisterMessage
  | PingMessage
  | PongMessage
  | ProbeMessage
  | ProbeAckMessage
  | ErrorMessage
  | GoawayMessage;

/** The `type` of every control message. */
export type ControlMessageType = ControlMessage["type"];

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes a control message as a frame: a 4-byte big-endian length, then UTF-8 JSON.
 *
 * @example Encode a pong
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMessage } from "./messages.ts";
 * const frame = encodeMessage({ type: "pong", seq: 7 });
 * assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, 23]);
 * ```
 * @param message The message; it is not validated.
 * @returns The frame.
 * @throws {RangeError} If the JSON is longer than {@linkcode MAX_MESSAGE_BYTES}.
 */
export function encodeMessage(message: ControlMessage): Uint8Array {
  const json = JSON.stringify(message);
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: allocate once, encode in place.
  const frame = new Uint8Array(4 + json.length * 3);
  const { written } = encoder.encodeInto(json, frame.subarray(4));
  if (written > MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `Cannot encode "${message.type}" message: ${written} bytes exceed the limit of ${MAX_MESSAGE_BYTES}`,
    );
  }
  new DataView(frame.buffer).setUint32(0, written);
  return frame.subarray(0, 4 + written);
}

function protocolError(detail: string): TunnelError {
  return new TunnelError("protocol", `Invalid control message: ${detail}`);
}

/**
 * Parses the JSON body of a control message (without the length prefix) and validates it
 * strictly against PROTOCOL.md section 2. Unknown extra fields are dropped.
 *
 * @example Parse a ping
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMessage } from "./messages.ts";
 * const json = new TextEncoder().encode('{"type":"ping","seq":1,"sentAt":5,"extra":true}');
 * assert.deepEqual(parseMessage(json), { type: "ping", seq: 1, sentAt: 5 });
 * ```
 * @param json The message body.
 * @returns The message, holding only the fields the protocol defines.
 * @throws {TunnelError} Coded `protocol`, naming the field, for anything invalid.
 */
export function parseMessage(json: Uint8Array): ControlMessage {
  if (json.byteLength > MAX_MESSAGE_BYTES) {
    throw protocolError(`${json.byteLength} bytes exceed the limit of ${MAX_MESSAGE_BYTES}`);
  }
  let text: string;
  try {
    text = decoder.decode(json);
  } catch {
    throw protocolError("not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw protocolError("not valid JSON");
  }
  if (!isPlainObject(value)) throw protocolError("not a JSON object");
  const type = Object.hasOwn(value, "type") ? value.type : undefined;
  if (typeof type !== "string") throw protocolError('"type" must be a string');
  const read = Object.hasOwn(READERS, type) ? READERS[type as ControlMessageType] : undefined;
  if (!read) throw protocolError(`unknown type "${type.length > 32 ? `${type.slice(0, 32)}…` : type}"`);
  return read(new Fields(type, value));
}

const CODES = Object.keys(TUNNEL_ERROR_NUMBERS) as TunnelErrorCode[];
const SERVICE_CODES: readonly ServiceErrorCode[] = [...CODES, "invalid_name", "duplicate_name"];
const MAX_MS = 86_400_000;
const U32 = 0xffff_ffff;
const B64_32 = "32 bytes in base64url (43 characters)";
const CLIENT_ID_TEXT = "1 to 64 characters from [A-Za-z0-9._-]";
const CAPABILITY_TEXT = "a string of 1 to 64 characters from [A-Za-z0-9._-]";

const READERS: { [K in ControlMessageType]: (f: Fields) => Extract<ControlMessage, { type: K }> } = {
  hello(f) {
    const message: HelloMessage = {
      type: "hello",
      version: f.integer("version", 1, 65535),
      capabilities: f.strings("capabilities", MAX_CAPABILITIES, CAPABILITY_PATTERN, CAPABILITY_TEXT),
      clientId: f.string("clientId", 64, CLIENT_ID_PATTERN, CLIENT_ID_TEXT),
      clientNonce: f.string("clientNonce", 43, BASE64URL_32_PATTERN, B64_32),
    };
    if (f.has("resume")) {
      message.resume = {
        sessionId: f.object("resume").string("sessionId", 64, SESSION_ID_PATTERN, "16 to 64 base64url characters"),
      };
    }
    return message;
  },
  challenge: (f) => ({
    type: "challenge",
    version: f.integer("version", 1, 65535),
    capabilities: f.strings("capabilities", MAX_CAPABILITIES, CAPABILITY_PATTERN, CAPABILITY_TEXT),
    serverNonce: f.string("serverNonce", 43, BASE64URL_32_PATTERN, B64_32),
    sessionId: f.string("sessionId", 64, SESSION_ID_PATTERN, "16 to 64 base64url characters"),
  }),
  auth: (f) => ({ type: "auth", mac: f.string("mac", 43, BASE64URL_32_PATTERN, B64_32) }),
  welcome(f) {
    const limits = f.object("limits");
    const range = limits.object("portRange");
    const min = range.integer("min", 1, 65535);
    const max = range.integer("max", 1, 65535);
    if (max < min) range.fail("max", `at least "min" (${min})`);
    return {
      type: "welcome",
      serverMac: f.string("serverMac", 43, BASE64URL_32_PATTERN, B64_32),
      heartbeatMs: f.integer("heartbeatMs", 1, MAX_MS),
      heartbeatMisses: f.integer("heartbeatMisses", 1, 100),
      limits: {
        maxServices: limits.integer("maxServices", 0, 0x7fff_ffff),
        maxConnectionsPerService: limits.integer("maxConnectionsPerService", 0, 0x7fff_ffff),
        portRange: { min, max },
      },
      resumed: f.boolean("resumed"),
    };
  },
  register: (f) => ({
    type: "register",
    services: f.array("services", MAX_SERVICES_PER_MESSAGE, (_i, value, path) => {
      const s = f.itemObject(value, path);
      const service: ServiceRequest = { name: s.name("name", MAX_SERVICE_NAME_BYTES) };
      if (s.has("remotePort")) service.remotePort = s.integer("remotePort", 1, 65535);
      if (s.has("proxyProtocol")) service.proxyProtocol = s.oneOf("proxyProtocol", ["v1", "v2"] as const);
      return service;
    }),
  }),
  registered: (f) => ({
    type: "registered",
    services: f.array("services", MAX_SERVICES_PER_MESSAGE, (_i, value, path) => {
      const s = f.itemObject(value, path);
      const name = s.name("name", MAX_SERVICE_NAME_BYTES);
      if (s.has("error")) {
        const e = s.object("error");
        return { name, error: { code: e.oneOf("code", SERVICE_CODES), message: e.string("message", MAX_TEXT_CHARS) } };
      }
      const bindHost = s.string("bindHost", 255);
      if (bindHost === "") s.fail("bindHost", "a string of 1 to 255 characters");
      return { name, remotePort: s.integer("remotePort", 1, 65535), bindHost };
    }),
  }),
  unregister: (f) => ({
    type: "unregister",
    names: f.array("names", MAX_SERVICES_PER_MESSAGE, (i, value): string => {
      if (
        typeof value === "string" && value !== "" && utf8Length(value, MAX_SERVICE_NAME_BYTES) <= MAX_SERVICE_NAME_BYTES
      ) {
        return value;
      }
      return f.fail(`names[${i}]`, `a string of 1 to ${MAX_SERVICE_NAME_BYTES} bytes`);
    }),
  }),
  ping: (f) => ({
    type: "ping",
    seq: f.integer("seq", 0, U32),
    sentAt: f.number("sentAt", 0, Number.MAX_SAFE_INTEGER),
  }),
  pong: (f) => ({ type: "pong", seq: f.integer("seq", 0, U32) }),
  probe: (f) => ({ type: "probe", seq: f.integer("seq", 0, U32) }),
  probe_ack: (f) => ({ type: "probe_ack", seq: f.integer("seq", 0, U32) }),
  error: (f) => ({ type: "error", code: f.oneOf("code", CODES), message: f.string("message", MAX_TEXT_CHARS) }),
  goaway(f) {
    const message: GoawayMessage = {
      type: "goaway",
      code: f.oneOf("code", CODES),
      message: f.string("message", MAX_TEXT_CHARS),
    };
    if (f.has("reconnectAfterMs")) message.reconnectAfterMs = f.integer("reconnectAfterMs", 0, MAX_MS);
    return message;
  },
};
