import assert from "node:assert/strict";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import { encodeMessage, MAX_MESSAGE_BYTES, parseMessage } from "../../../protocols/tunnel/messages.ts";
import { test } from "../../_util/test.ts";
import { NONCE, VALID_MESSAGES } from "./_samples.ts";

const encoder = new TextEncoder();
const json = (value: unknown) => encoder.encode(JSON.stringify(value));

function rejects(input: Uint8Array | unknown, message: string): void {
  const bytes = input instanceof Uint8Array ? input : json(input);
  assert.throws(() => parseMessage(bytes), (error) => {
    assert.ok(error instanceof TunnelError, String(error));
    assert.equal(error.code, "protocol");
    assert.equal(error.message, message);
    return true;
  });
}

test("encodeMessage() and parseMessage() round-trip every message type", () => {
  for (const message of VALID_MESSAGES) {
    const frame = encodeMessage(message);
    const length = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
    assert.equal(length, frame.byteLength - 4);
    assert.deepEqual(parseMessage(frame.subarray(4)), message);
  }
});

test("encodeMessage() writes a big-endian length and UTF-8 JSON", () => {
  const frame = encodeMessage({ type: "error", code: "internal", message: "é€😀" });
  const body = new TextDecoder().decode(frame.subarray(4));
  assert.equal(body, '{"type":"error","code":"internal","message":"é€😀"}');
  assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, encoder.encode(body).byteLength]);
});

test("encodeMessage() refuses a message over the limit", () => {
  const huge = { type: "error", code: "internal", message: "x".repeat(MAX_MESSAGE_BYTES) } as const;
  assert.throws(() => encodeMessage(huge), {
    name: "RangeError",
    message: `Cannot encode "error" message: ${MAX_MESSAGE_BYTES + 47} bytes exceed the limit of ${MAX_MESSAGE_BYTES}`,
  });
});

test("parseMessage() ignores unknown fields and never returns them", () => {
  const parsed = parseMessage(json({ type: "pong", seq: 1, extra: { deep: [1, 2] }, __proto__: { polluted: true } }));
  assert.deepEqual(parsed, { type: "pong", seq: 1 });
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const hello = parseMessage(json({ ...VALID_MESSAGES[0], future: 1 }));
  assert.deepEqual(hello, VALID_MESSAGES[0]);
});

test("parseMessage() rejects malformed frames with exact messages", () => {
  rejects(new Uint8Array([0xff, 0xfe]), "Invalid control message: not valid UTF-8");
  rejects(encoder.encode("\ufeff{}"), "Invalid control message: not valid JSON");
  rejects(encoder.encode("{"), "Invalid control message: not valid JSON");
  rejects(encoder.encode(""), "Invalid control message: not valid JSON");
  rejects([], "Invalid control message: not a JSON object");
  rejects(null, "Invalid control message: not a JSON object");
  rejects(42, "Invalid control message: not a JSON object");
  rejects({}, 'Invalid control message: "type" must be a string');
  rejects({ type: 1 }, 'Invalid control message: "type" must be a string');
  rejects({ type: "nope" }, 'Invalid control message: unknown type "nope"');
  rejects({ type: "toString" }, 'Invalid control message: unknown type "toString"');
  rejects({ type: "__proto__" }, 'Invalid control message: unknown type "__proto__"');
  rejects({ type: "y".repeat(100) }, `Invalid control message: unknown type "${"y".repeat(32)}…"`);
  rejects(
    new Uint8Array(MAX_MESSAGE_BYTES + 1),
    `Invalid control message: ${MAX_MESSAGE_BYTES + 1} bytes exceed the limit of ${MAX_MESSAGE_BYTES}`,
  );
});

test("parseMessage() names the field that is missing, mistyped or out of bounds", () => {
  const hello = VALID_MESSAGES[0] as unknown as Record<string, unknown>;
  const cases: [unknown, string][] = [
    [{ ...hello, version: undefined }, '"version" must be an integer from 1 to 65535'],
    [{ ...hello, version: 1.5 }, '"version" must be an integer from 1 to 65535'],
    [{ ...hello, version: "1" }, '"version" must be an integer from 1 to 65535'],
    [{ ...hello, capabilities: "resume" }, '"capabilities" must be an array of at most 32 items'],
    [{ ...hello, capabilities: Array(33).fill("a") }, '"capabilities" must be an array of at most 32 items'],
    [
      { ...hello, capabilities: ["ok", "a,b"] },
      '"capabilities[1]" must be a string of 1 to 64 characters from [A-Za-z0-9._-]',
    ],
    [{ ...hello, clientId: "" }, '"clientId" must be 1 to 64 characters from [A-Za-z0-9._-]'],
    [{ ...hello, clientId: "a".repeat(65) }, '"clientId" must be 1 to 64 characters from [A-Za-z0-9._-]'],
    [{ ...hello, clientId: "bad id" }, '"clientId" must be 1 to 64 characters from [A-Za-z0-9._-]'],
    [{ ...hello, clientNonce: NONCE.slice(1) }, '"clientNonce" must be 32 bytes in base64url (43 characters)'],
    [
      { ...hello, clientNonce: NONCE.slice(0, 42) + "B" },
      '"clientNonce" must be 32 bytes in base64url (43 characters)',
    ],
    [{ ...hello, clientNonce: NONCE + "=" }, '"clientNonce" must be 32 bytes in base64url (43 characters)'],
    [{ ...hello, resume: null }, '"resume" must be an object'],
    [{ ...hello, resume: {} }, '"resume.sessionId" must be a string'],
    [{ ...hello, resume: { sessionId: "short" } }, '"resume.sessionId" must be 16 to 64 base64url characters'],
  ];
  for (const [message, detail] of cases) rejects(message, `Invalid "hello" message: ${detail}`);

  const welcome = VALID_MESSAGES[4] as unknown as { limits: object } & Record<string, unknown>;
  const limits = welcome.limits as Record<string, unknown>;
  rejects(
    { ...welcome, heartbeatMs: 0 },
    'Invalid "welcome" message: "heartbeatMs" must be an integer from 1 to 86400000',
  );
  rejects({ ...welcome, resumed: "no" }, 'Invalid "welcome" message: "resumed" must be a boolean');
  rejects({ ...welcome, limits: [] }, 'Invalid "welcome" message: "limits" must be an object');
  rejects(
    { ...welcome, limits: { ...limits, portRange: { min: 0, max: 10 } } },
    'Invalid "welcome" message: "limits.portRange.min" must be an integer from 1 to 65535',
  );
  rejects(
    { ...welcome, limits: { ...limits, portRange: { min: 20000, max: 10000 } } },
    'Invalid "welcome" message: "limits.portRange.max" must be at least "min" (20000)',
  );
  rejects(
    { ...welcome, limits: { ...limits, maxServices: -1 } },
    'Invalid "welcome" message: "limits.maxServices" must be an integer from 0 to 2147483647',
  );

  rejects(
    { type: "register", services: [{ name: "db", remotePort: 0 }] },
    'Invalid "register" message: "services[0].remotePort" must be an integer from 1 to 65535',
  );
  rejects(
    { type: "register", services: [{ name: "db" }, { name: "x", remotePort: 65536 }] },
    'Invalid "register" message: "services[1].remotePort" must be an integer from 1 to 65535',
  );
  rejects(
    { type: "register", services: [{ name: "db", proxyProtocol: "v3" }] },
    'Invalid "register" message: "services[0].proxyProtocol" must be one of "v1", "v2"',
  );
  rejects(
    { type: "register", services: [{ name: "" }] },
    'Invalid "register" message: "services[0].name" must be a string of 1 to 255 bytes',
  );
  rejects(
    { type: "register", services: [{ name: "é".repeat(128) }] },
    'Invalid "register" message: "services[0].name" must be a string of 1 to 255 bytes',
  );
  rejects({ type: "register", services: ["db"] }, 'Invalid "register" message: "services[0]" must be an object');
  rejects(
    { type: "register", services: Array(257).fill({ name: "a" }) },
    'Invalid "register" message: "services" must be an array of at most 256 items',
  );
  rejects({ type: "register" }, 'Invalid "register" message: "services" must be an array of at most 256 items');

  rejects(
    { type: "registered", services: [{ name: "db", remotePort: 1 }] },
    'Invalid "registered" message: "services[0].bindHost" must be a string',
  );
  rejects(
    { type: "registered", services: [{ name: "db", remotePort: 1, bindHost: "" }] },
    'Invalid "registered" message: "services[0].bindHost" must be a string of 1 to 255 characters',
  );
  rejects(
    { type: "registered", services: [{ name: "db", error: { code: "nope", message: "" } }] },
    'Invalid "registered" message: "services[0].error.code" must be one of "protocol", "auth_failed", "version", "port_out_of_range", "port_in_use", "too_many_services", "too_many_connections", "unknown_service", "local_unreachable", "shutting_down", "internal", "invalid_name", "duplicate_name"',
  );
  rejects(
    { type: "unregister", names: ["db", 1] },
    'Invalid "unregister" message: "names[1]" must be a string of 1 to 255 bytes',
  );
  rejects(
    { type: "ping", seq: 2 ** 32, sentAt: 0 },
    'Invalid "ping" message: "seq" must be an integer from 0 to 4294967295',
  );
  rejects(
    { type: "ping", seq: 1, sentAt: -1 },
    'Invalid "ping" message: "sentAt" must be a number from 0 to 9007199254740991',
  );
  rejects({ type: "pong" }, 'Invalid "pong" message: "seq" must be an integer from 0 to 4294967295');
  rejects({ type: "probe", seq: -1 }, 'Invalid "probe" message: "seq" must be an integer from 0 to 4294967295');
  rejects(
    { type: "probe_ack", seq: "1" },
    'Invalid "probe_ack" message: "seq" must be an integer from 0 to 4294967295',
  );
  rejects({ type: "auth", mac: 5 }, 'Invalid "auth" message: "mac" must be a string');
  rejects(
    { type: "error", code: "auth_failed", message: "x".repeat(1025) },
    'Invalid "error" message: "message" must be a string of at most 1024 characters',
  );
  rejects(
    { type: "error", code: "invalid_name", message: "" },
    `Invalid "error" message: "code" must be one of "protocol", "auth_failed", "version", "port_out_of_range", "port_in_use", "too_many_services", "too_many_connections", "unknown_service", "local_unreachable", "shutting_down", "internal"`,
  );
  rejects(
    { type: "goaway", code: "shutting_down", message: "", reconnectAfterMs: -5 },
    'Invalid "goaway" message: "reconnectAfterMs" must be an integer from 0 to 86400000',
  );
  rejects(
    { type: "challenge", version: 1, capabilities: [], serverNonce: NONCE, sessionId: "s" },
    'Invalid "challenge" message: "sessionId" must be 16 to 64 base64url characters',
  );
});

test("parseMessage() survives deeply nested JSON within the size limit", () => {
  const depth = 30_000;
  const nested = encoder.encode(`{"type":"pong","seq":1,"x":${"[".repeat(depth)}${"]".repeat(depth)}}`);
  assert.ok(nested.byteLength <= MAX_MESSAGE_BYTES);
  try {
    assert.deepEqual(parseMessage(nested), { type: "pong", seq: 1 });
  } catch (error) {
    // A runtime whose JSON parser limits nesting reports it as invalid JSON.
    assert.ok(error instanceof TunnelError && error.code === "protocol");
  }
});
