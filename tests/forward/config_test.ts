import assert from "node:assert/strict";
import { resolveTunnelConfig } from "../../forward/config.ts";
import { ConfigError, parseConfigFile } from "../../forward/config_file.ts";
import { parseDuration } from "../../forward/duration.ts";
import { clientPreset, highThroughputPreset, serverPreset } from "../../forward/presets.ts";
import { test } from "../_util/test.ts";

const base = { listenAddr: ":8080", targetAddr: "127.0.0.1:80" };

test("resolveTunnelConfig() applies go-tunnel's defaults", () => {
  const config = resolveTunnelConfig(base);
  assert.equal(config.protocol, "tcp");
  assert.equal(config.bufferSize, 64 * 1024);
  assert.equal(config.maxConnections, 0);
  assert.equal(config.backpressureHighWatermark, 1024 * 1024);
  assert.equal(config.backpressureLowWatermark, 512 * 1024);
  assert.equal(config.tcpNoDelay, true);
});

test("resolveTunnelConfig() rejects out-of-bounds values naming the key, the value and the fix", () => {
  assert.throws(() => resolveTunnelConfig({ ...base, bufferSize: 20 * 1024 * 1024 }), {
    name: "RangeError",
    message:
      "Cannot use TunnelConfig.bufferSize = 20971520: it must be an integer from 1024 to 10485760; for example 65536 (64 KiB)",
  });
  assert.throws(() => resolveTunnelConfig({ ...base, maxConnections: -1 }), {
    message: "Cannot use TunnelConfig.maxConnections = -1: it must be an integer from 0 to 1000000; use 0 for no limit",
  });
  assert.throws(
    () => resolveTunnelConfig({ ...base, backpressureLowWatermark: 4096, backpressureHighWatermark: 1024 }),
    {
      message:
        "Cannot use TunnelConfig.backpressureLowWatermark = 4096: it must be below backpressureHighWatermark (1024)",
    },
  );
  assert.throws(() => resolveTunnelConfig({ ...base, enableBackpressure: false }), /backpressure cannot be turned off/);
  assert.throws(() => resolveTunnelConfig({ ...base, bufsize: 1 } as never), {
    name: "TypeError",
    message: "Cannot use TunnelConfig.bufsize: unknown key; check its spelling",
  });
  assert.throws(() => resolveTunnelConfig({ listenAddr: ":1", targetAddr: "" }), {
    message: 'Cannot use TunnelConfig.targetAddr = "": it must be "host:port"',
  });
});

test("go-tunnel's readBufferSize and writeBufferSize map to the read size and the high watermark", () => {
  const config = resolveTunnelConfig({ ...base, readBufferSize: 128 * 1024, writeBufferSize: 4 * 1024 * 1024 });
  assert.equal(config.bufferSize, 128 * 1024);
  assert.equal(config.backpressureHighWatermark, 4 * 1024 * 1024);
  assert.equal(config.backpressureLowWatermark, 2 * 1024 * 1024);
});

test("the presets are valid and differ where documented", () => {
  const server = resolveTunnelConfig({ ...serverPreset(), ...base });
  const client = resolveTunnelConfig({ ...clientPreset(), ...base });
  const bulk = resolveTunnelConfig({ ...highThroughputPreset(), ...base });
  assert.deepEqual([server.bufferSize, client.bufferSize, bulk.bufferSize], [32768, 65536, 262144]);
  assert.equal(server.maxConnections, 100_000);
  assert.equal(server.connectionTimeoutMs, 300_000);
  assert.equal(bulk.backpressureHighWatermark, 4 * 1024 * 1024);
});

test("parseConfigFile() reads go-tunnel's schema as it is", () => {
  const file = parseConfigFile(`
version: "1.0"
log_level: debug
protocols:
  - name: tcp
    listen: ":8080"
    target: "127.0.0.1:80"
    enabled: true
  - name: tcp
    listen: ":8081"
    target: "127.0.0.1:81"
    enabled: false
  - name: tcp
    listen: "127.0.0.1:8082"
    target: "[::1]:82"
    preset: server
    idle_timeout: 90s
    options:
      max_connections: "50"
tls:
  cert_file: ./cert.pem
  key_file: ./key.pem
options:
  auto_tls: "false"
`);
  assert.equal(file.logLevel, "debug");
  assert.equal(file.tunnels.length, 2);
  assert.deepEqual(file.tunnels[0], { protocol: "tcp", listenAddr: ":8080", targetAddr: "127.0.0.1:80" });
  assert.equal(file.tunnels[1].connectionTimeoutMs, 90_000);
  assert.equal(file.tunnels[1].maxConnections, 50);
  assert.equal(file.tunnels[1].bufferSize, 32 * 1024);
  assert.deepEqual(file.warnings, ["tls: not used, because every listener is plain tcp"]);
});

test("parseConfigFile() rejects unknown keys and bad values with the key path and the fix", () => {
  const cases: [string, string][] = [
    [
      "protocols:\n  - {listen: ':1', target: 'a:1', tagret: x}",
      "protocols[0].tagret: unknown key; allowed keys here:",
    ],
    [
      "protocols:\n  - {listen: ':1', target: 'a:1', idle_timeout: 30}",
      'protocols[0].idle_timeout: 30 is not a duration; write it with a unit, for example "30s" or "5m"',
    ],
    [
      "protocols:\n  - {listen: ':99999', target: 'a:1'}",
      'protocols[0].listen: Cannot parse listen address ":99999": port must be an integer from 0 to 65535: current value is "99999"',
    ],
    [
      "protocols:\n  - {name: ftp, listen: ':1', target: 'a:1'}",
      'protocols[0].name: "ftp" is not a protocol; use one of tcp, tls, http2, http3, quic',
    ],
    [
      "protocols:\n  - {listen: ':1', target: 'a:1', options: {speed: fast}}",
      "protocols[0].options.speed: unknown key",
    ],
    [
      "log_level: loud\nprotocols:\n  - {listen: ':1', target: 'a:1'}",
      'log_level: "loud" is not a level; use one of error, warn, info, debug',
    ],
    [
      "listeners: []",
      "listeners: unknown key; allowed keys here: version, log_level, log_format, protocols, tls, options",
    ],
    ["protocols: [", "(file): not valid YAML:"],
    [
      "protocols:\n  - {listen: ':1', target: 'a:1', buffer_size: 100MiB}",
      "protocols[0]: Cannot use TunnelConfig.bufferSize = 104857600: it must be an integer from 1024 to 10485760",
    ],
  ];
  for (const [yaml, message] of cases) {
    assert.throws(() => parseConfigFile(yaml), (error: Error) => {
      assert.ok(error instanceof ConfigError, `not a ConfigError for ${yaml}`);
      assert.ok(error.message.startsWith(message), `"${error.message}" does not start with "${message}"`);
      return true;
    });
  }
});

test("parseDuration() reads Go-style durations and rejects bare numbers", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("0"), 0);
  assert.throws(() => parseDuration("30"), {
    message: 'Cannot parse duration "30": use a number with a unit, for example 500ms, 30s, 5m or 1h',
  });
});

test("max_buffered_bytes and -max-buffered-bytes take sizes; a negative budget is refused with the fix", () => {
  const file = parseConfigFile(`
protocols:
  - name: tcp
    listen: ":8080"
    target: "127.0.0.1:80"
    max_buffered_bytes: 256MiB
`);
  assert.equal(file.tunnels[0].maxBufferedBytes, 256 * 1024 * 1024);
  assert.throws(
    () => resolveTunnelConfig({ listenAddr: ":1", targetAddr: "h:1", maxBufferedBytes: -1 }),
    new RangeError(
      "Cannot use TunnelConfig.maxBufferedBytes = -1: it must be an integer from 0 to 9007199254740991; for example 268435456 (256 MiB), or 0 for no budget",
    ),
  );
});
