/**
 * Valid sample inputs for the codec and fuzz tests.
 * @module
 */
import type { ControlMessage } from "../../../protocols/tunnel/messages.ts";
import type { StreamHeader } from "../../../protocols/tunnel/stream_header.ts";

export const NONCE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
export const MAC = "EUWHtjpBuRqOSBwWFUvn324tb0Qoi8JizSd-A8xrOnA";

/** One valid example of every message type (with every optional field). */
export const VALID_MESSAGES: ControlMessage[] = [
  { type: "hello", version: 1, capabilities: ["resume"], clientId: "edge-1", clientNonce: NONCE },
  {
    type: "hello",
    version: 1,
    capabilities: [],
    clientId: "a.b_c-D",
    clientNonce: NONCE,
    resume: { sessionId: "AbCdEfGhIjKlMnOpQrStUvWx" },
  },
  {
    type: "challenge",
    version: 1,
    capabilities: ["resume"],
    serverNonce: NONCE,
    sessionId: "AbCdEfGhIjKlMnOpQrStUvWx",
  },
  { type: "auth", mac: MAC },
  {
    type: "welcome",
    serverMac: MAC,
    heartbeatMs: 5000,
    heartbeatMisses: 3,
    limits: { maxServices: 10, maxConnectionsPerService: 100, portRange: { min: 10000, max: 20000 } },
    resumed: false,
  },
  {
    type: "register",
    services: [{ name: "db" }, { name: "web", remotePort: 18080, proxyProtocol: "v2" }, {
      name: "ssh",
      proxyProtocol: "v1",
    }],
  },
  {
    type: "registered",
    services: [
      { name: "db", remotePort: 15432, bindHost: "0.0.0.0" },
      {
        name: "web",
        error: { code: "port_out_of_range", message: "port 80 is outside the allowed range 10000-20000" },
      },
      { name: "x", error: { code: "duplicate_name", message: "service x is already registered" } },
    ],
  },
  { type: "unregister", names: ["db", "web"] },
  { type: "ping", seq: 4294967295, sentAt: 1_700_000_000_000 },
  { type: "pong", seq: 0 },
  { type: "probe", seq: 17 },
  { type: "probe_ack", seq: 4294967295 },
  { type: "error", code: "auth_failed", message: "authentication failed" },
  { type: "goaway", code: "shutting_down", message: "the server is stopping" },
  { type: "goaway", code: "shutting_down", message: "restarting", reconnectAfterMs: 1000 },
];

/** Stream headers covering both families and the mixed case. */
export const VALID_HEADERS: StreamHeader[] = [
  {
    service: "db",
    clientAddr: { hostname: "203.0.113.7", port: 51000 },
    publicAddr: { hostname: "198.51.100.1", port: 15432 },
  },
  { service: "web", clientAddr: { hostname: "2001:db8::7", port: 1 }, publicAddr: { hostname: "::", port: 65535 } },
  { service: "mixed", clientAddr: { hostname: "10.0.0.1", port: 2 }, publicAddr: { hostname: "fe80::1", port: 3 } },
  {
    service: "ü".repeat(127),
    clientAddr: { hostname: "0.0.0.0", port: 0 },
    publicAddr: { hostname: "255.255.255.255", port: 80 },
  },
];
