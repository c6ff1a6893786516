import assert from "node:assert/strict";
import {
  authTranscript,
  clientMac,
  randomNonce,
  randomSessionId,
  serverMac,
  TUNNEL_PROTOCOL_ID,
  verifyMac,
} from "../../../protocols/tunnel/auth.ts";
import { BASE64URL_32_PATTERN, SESSION_ID_PATTERN } from "../../../protocols/tunnel/messages.ts";
import { test } from "../../_util/test.ts";

// Fixed inputs; the expected values were computed once with Python (transcript) and
// `openssl dgst -sha256 -hmac <token> -binary | basenc --base64url` (MACs), independently of our code.
const PARAMS = {
  clientId: "client-1",
  sessionId: "AbCdEfGhIjKlMnOpQrStUvWx",
  capabilities: ["resume", "proxy-protocol"],
  clientNonce: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", // bytes 0..31
  serverNonce: "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8", // bytes 32..63
};
const TOKEN = "0123456789abcdef-token";
const TRANSCRIPT_HEX = "74732d74756e6e656c2f3100636c69656e742d31004162436445664768496a4b6c4d6e4f70517253745576577800" +
  "726573756d652c70726f78792d70726f746f636f6c00000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
const CLIENT_MAC = "EUWHtjpBuRqOSBwWFUvn324tb0Qoi8JizSd-A8xrOnA";
const SERVER_MAC = "o-WKII0CUvteiZtFH2Q2kDhZdy8P1NhBqRfOvVXGFkE";

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

test("authTranscript() follows PROTOCOL.md section 3 byte for byte", () => {
  assert.equal(TUNNEL_PROTOCOL_ID, "ts-tunnel/1");
  assert.equal(hex(authTranscript(PARAMS)), TRANSCRIPT_HEX);
});

test("clientMac() and serverMac() match the openssl vectors, for string and byte tokens", () => {
  const transcript = authTranscript(PARAMS);
  assert.equal(clientMac(TOKEN, transcript), CLIENT_MAC);
  assert.equal(serverMac(TOKEN, transcript), SERVER_MAC);
  const tokenBytes = new TextEncoder().encode(TOKEN);
  assert.equal(clientMac(tokenBytes, transcript), CLIENT_MAC);
  assert.equal(serverMac(tokenBytes, transcript), SERVER_MAC);
});

test("every transcript field changes the MAC", () => {
  const base = clientMac(TOKEN, authTranscript(PARAMS));
  const variants = [
    { ...PARAMS, clientId: "client-2" },
    { ...PARAMS, sessionId: "AbCdEfGhIjKlMnOpQrStUvWy" },
    { ...PARAMS, capabilities: ["resume"] },
    { ...PARAMS, capabilities: ["proxy-protocol", "resume"] },
    { ...PARAMS, clientNonce: PARAMS.serverNonce },
    { ...PARAMS, serverNonce: PARAMS.clientNonce },
  ];
  for (const params of variants) assert.notEqual(clientMac(TOKEN, authTranscript(params)), base);
  assert.notEqual(clientMac(TOKEN + "x", authTranscript(PARAMS)), base);
});

test("authTranscript() rejects a nonce that is not 32 bytes of canonical base64url", () => {
  for (const bad of ["", "AAAA", PARAMS.clientNonce + "A", PARAMS.clientNonce.slice(0, 42) + "B", "+".repeat(43)]) {
    assert.throws(() => authTranscript({ ...PARAMS, clientNonce: bad }), TypeError);
  }
  assert.throws(
    () => authTranscript({ ...PARAMS, serverNonce: "x" }),
    {
      name: "TypeError",
      message: `Cannot build the auth transcript as 'serverNonce' must be 32 bytes in base64url: current value is "x"`,
    },
  );
});

test("verifyMac() accepts only the exact MAC", () => {
  assert.ok(verifyMac(CLIENT_MAC, CLIENT_MAC));
  assert.ok(!verifyMac(CLIENT_MAC, SERVER_MAC));
  // One bit off in the last byte.
  const flipped = CLIENT_MAC.slice(0, 42) + (CLIENT_MAC[42] === "A" ? "E" : "A");
  assert.ok(!verifyMac(CLIENT_MAC, flipped));
  // Wrong lengths, padding, a non-canonical last character, garbage: false, never a throw.
  for (
    const bad of [
      "",
      "A",
      CLIENT_MAC.slice(0, 42),
      CLIENT_MAC + "A",
      CLIENT_MAC + "=",
      CLIENT_MAC.slice(0, 42) + "B",
      "!".repeat(43),
      "€".repeat(43),
    ]
  ) {
    assert.equal(verifyMac(CLIENT_MAC, bad), false, bad);
  }
});

test("verifyMac() takes about the same time for a near miss and a far miss", () => {
  // A coarse check that the compare is not early-exit: a MAC differing in the first byte and one
  // differing in the last byte cost the same within a generous factor (timing is noisy on CI).
  const first = (CLIENT_MAC[0] === "A" ? "B" : "A") + CLIENT_MAC.slice(1);
  const last = CLIENT_MAC.slice(0, 42) + (CLIENT_MAC[42] === "A" ? "E" : "A");
  const time = (candidate: string) => {
    const start = performance.now();
    for (let i = 0; i < 20_000; i++) verifyMac(CLIENT_MAC, candidate);
    return performance.now() - start;
  };
  time(first); // warm up
  const a = Math.min(time(first), time(first));
  const b = Math.min(time(last), time(last));
  assert.ok(
    Math.max(a, b) / Math.min(a, b) < 3,
    `first-byte miss ${a.toFixed(1)} ms, last-byte miss ${b.toFixed(1)} ms`,
  );
});

test("randomNonce() and randomSessionId() are fresh and well-formed", () => {
  const nonces = new Set(Array.from({ length: 100 }, () => randomNonce()));
  assert.equal(nonces.size, 100);
  for (const nonce of nonces) assert.match(nonce, BASE64URL_32_PATTERN);
  const id = randomSessionId();
  assert.match(id, SESSION_ID_PATTERN);
  assert.notEqual(randomSessionId(), id);
});
