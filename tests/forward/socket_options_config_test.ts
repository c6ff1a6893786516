import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import type net from "node:net";
import { main } from "../../cli.ts";
import { resolveTunnelConfig, type TunnelConfig } from "../../forward/config.ts";
import { ConfigError, parseConfigFile } from "../../forward/config_file.ts";
import { Tunnel } from "../../forward/tunnel.ts";
import { findListenerFd, findSocketFd } from "../../ffi/socket_fd.ts";
import { readSocketOptions } from "../../ffi/socket_options.ts";
import { loadLibc } from "../../ffi/load.ts";
import type { NetAddr } from "../../protocols/types.ts";
import process from "node:process";
import { runtimeName, test } from "../_util/test.ts";
import { connectClient, startServer } from "../_util/echo_server.ts";

const libc = await loadLibc();
const noLibc = libc ? false : "needs libc through FFI (Linux, -A)";

function tcp(hostname: string, port: number): NetAddr {
  return { transport: "tcp", hostname, port };
}

/** An echo server that remembers the ends of each socket it accepted, as seen by the tunnel's upstream socket. */
async function startPeerEcho() {
  const upstreamEnds: { localAddr: NetAddr; remoteAddr: NetAddr }[] = [];
  const server = await startServer((socket: net.Socket) => {
    // The tunnel's upstream socket: local = our peer, remote = us.
    upstreamEnds.push({
      localAddr: tcp(socket.remoteAddress!.replace(/^::ffff:/, ""), socket.remotePort!),
      remoteAddr: tcp(socket.localAddress!.replace(/^::ffff:/, ""), socket.localPort!),
    });
    socket.pipe(socket);
  });
  return Object.assign(server, { upstreamEnds });
}

async function echoOnce(socket: net.Socket, text: string): Promise<void> {
  const got = new Promise<string>((resolve) => socket.once("data", (d: Buffer) => resolve(d.toString())));
  socket.write(text);
  assert.equal(await got, text);
}

const OPTIONS: Partial<TunnelConfig> = {
  tcpQuickAck: true,
  tcpFastOpen: 64,
  sendBufferSize: 65536,
  recvBufferSize: 98304,
  keepAliveIdleSeconds: 45,
  keepAliveIntervalSeconds: 7,
  keepAliveCount: 4,
  notSentLowat: 16384,
};

test("Tunnel sets the socket-option keys on the listener, the client and the upstream sockets", async () => {
  await using echo = await startPeerEcho();
  const errors: unknown[] = [];
  await using tunnel = new Tunnel(
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, ...OPTIONS },
    { observer: { onSocketOptionsError: (_side, error) => errors.push(error) } },
  );
  await tunnel.start();
  const listenerFd = findListenerFd({ addr: tunnel.addr! }, libc!);
  assert.ok(listenerFd !== undefined, "the listener's fd");
  const listening = readSocketOptions(listenerFd, libc!);
  assert.equal(listening.listening, true);
  assert.equal(listening.fastOpen, 64);
  assert.equal(listening.sendBufferSize, 131072);
  assert.equal(listening.recvBufferSize, 196608);

  const client = await connectClient(tunnel.addr!.port);
  try {
    await echoOnce(client, "hello"); // the options are set before forwarding starts
    const clientSide = findSocketFd({
      localAddr: tunnel.addr!,
      remoteAddr: tcp(client.localAddress!, client.localPort!),
    }, libc!);
    const upstreamSide = findSocketFd(echo.upstreamEnds[0], libc!);
    assert.ok(clientSide !== undefined && upstreamSide !== undefined, "both fds of the tunnel's connection");
    for (const fd of [clientSide, upstreamSide]) {
      const got = readSocketOptions(fd, libc!);
      assert.equal(got.sendBufferSize, 131072, "SO_SNDBUF is stored doubled");
      assert.equal(got.recvBufferSize, 196608, "SO_RCVBUF is stored doubled");
      assert.equal(got.keepAlive, true);
      assert.equal(got.keepAliveIdleSeconds, 45);
      assert.equal(got.keepAliveIntervalSeconds, 7);
      assert.equal(got.keepAliveCount, 4);
      assert.equal(got.notSentLowat, 16384);
      assert.equal(got.noDelay, true);
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(tunnel.stats().socketOptions, { applied: 3, failed: 0, unavailable: undefined });
    assert.equal(tunnel.socketOptionsUnavailableReason, undefined);
  } finally {
    client.destroy();
  }
}, { ignore: noLibc });

test("Tunnel without socket-option keys reports no socket-option stats", async () => {
  await using echo = await startPeerEcho();
  await using tunnel = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}` });
  await tunnel.start();
  assert.equal(tunnel.stats().socketOptions, undefined);
  assert.equal(tunnel.socketOptionsUnavailableReason, undefined);
});

test("resolveTunnelConfig() names the key, the value and the fix for bad socket options", () => {
  const base = { listenAddr: "127.0.0.1:0", targetAddr: "127.0.0.1:1" };
  const cases: [Partial<TunnelConfig>, RegExp | string][] = [
    [
      { sendBufferSize: 10 },
      "Cannot use TunnelConfig.sendBufferSize = 10: it must be an integer from 1024 to 67108864; for example 262144 (256 KiB)",
    ],
    [
      { recvBufferSize: 1.5 },
      "Cannot use TunnelConfig.recvBufferSize = 1.5: it must be an integer from 1024 to 67108864; for example 262144 (256 KiB)",
    ],
    [
      { keepAliveCount: 200 },
      "Cannot use TunnelConfig.keepAliveCount = 200: it must be an integer from 1 to 127; for example 9 (unanswered probes)",
    ],
    [
      { keepAliveIdleSeconds: 0 },
      "Cannot use TunnelConfig.keepAliveIdleSeconds = 0: it must be an integer from 1 to 32767; for example 30 (seconds)",
    ],
    [{ tcpQuickAck: "yes" as unknown as boolean }, 'Cannot use TunnelConfig.tcpQuickAck = "yes": use true or false'],
    [
      { tcpFastOpen: "on" as unknown as boolean },
      'Cannot use TunnelConfig.tcpFastOpen = "on": use true, false or a queue length (e.g. 256)',
    ],
    [
      { tcpFastOpen: 70000 },
      "Cannot use TunnelConfig.tcpFastOpen = 70000: it must be an integer from 0 to 65535; give the queue length, for example 256, or true",
    ],
    [
      { keepAliveCount: 3, tcpKeepAlive: false },
      "Cannot use TunnelConfig.keepAliveCount with tcpKeepAlive = false: keepalive timing needs keepalive on; remove one of them",
    ],
    [
      { tcpQuickAck: true, protocol: "http2", h2c: true },
      'Cannot use TunnelConfig.tcpQuickAck with protocol "http2": socket options apply to the tcp and tls listeners (their sockets are TCP); remove it',
    ],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => resolveTunnelConfig({ ...base, ...bad }), (error: Error) => {
      assert.equal(error.message, message);
      return true;
    });
  }
  const ok = resolveTunnelConfig({ ...base, tcpFastOpen: true, notSentLowat: 0 });
  assert.equal(ok.tcpFastOpen, true);
  assert.equal(ok.sendBufferSize, undefined);
});

test("the YAML keys map to the socket options, with sizes and durations", () => {
  const file = parseConfigFile(`
protocols:
  - name: tcp
    listen: ":8080"
    target: "127.0.0.1:80"
    tcp_quick_ack: true
    tcp_fast_open: 128
    send_buffer_size: 256KiB
    recv_buffer_size: 1MiB
    keep_alive_idle: 1m
    keep_alive_interval: 10s
    keep_alive_count: 5
    not_sent_lowat: 16KiB
  - name: tcp
    listen: ":8081"
    target: "127.0.0.1:81"
    options:
      tcp_fast_open: "true"
      tcp_quick_ack: "false"
`);
  assert.deepEqual(
    { ...file.tunnels[0], protocol: undefined, listenAddr: undefined, targetAddr: undefined },
    {
      protocol: undefined,
      listenAddr: undefined,
      targetAddr: undefined,
      tcpQuickAck: true,
      tcpFastOpen: 128,
      sendBufferSize: 256 * 1024,
      recvBufferSize: 1024 * 1024,
      keepAliveIdleSeconds: 60,
      keepAliveIntervalSeconds: 10,
      keepAliveCount: 5,
      notSentLowat: 16 * 1024,
    },
  );
  assert.equal(file.tunnels[1].tcpFastOpen, true);
  assert.equal(file.tunnels[1].tcpQuickAck, false);
});

test("bad socket-option YAML values name the key path, the value and the fix", () => {
  const entry = (line: string) =>
    `protocols:\n  - name: tcp\n    listen: ":8080"\n    target: "127.0.0.1:80"\n    ${line}\n`;
  const cases: [string, string][] = [
    [
      "keep_alive_idle: 1500ms",
      'protocols[0].keep_alive_idle: "1500ms" is not a whole number of seconds; use for example "30s" or "1m"',
    ],
    [
      "keep_alive_idle: 30",
      'protocols[0].keep_alive_idle: 30 is not a duration; write it with a unit, for example "30s" or "5m"',
    ],
    [
      "tcp_fast_open: maybe",
      'protocols[0].tcp_fast_open: "maybe" is not Fast Open; use true, false or a queue length (e.g. 256)',
    ],
    [
      "send_buffer_size: lots",
      'protocols[0].send_buffer_size: "lots" is not a size; use bytes or a unit, for example 65536 or 64KiB',
    ],
    [
      "recv_buffer_size: 100",
      "protocols[0]: Cannot use TunnelConfig.recvBufferSize = 100: it must be an integer from 1024 to 67108864; for example 262144 (256 KiB)",
    ],
  ];
  for (const [line, message] of cases) {
    assert.throws(() => parseConfigFile(entry(line)), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message, message);
      return true;
    });
  }
});

/** Runs the CLI with `args` and returns the exit code and stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const code = await main(args, {
    io: { stdout: () => {}, stderr: (t) => void (stderr += t), isTerminal: false },
    signal: AbortSignal.abort(),
  });
  return { code, stderr };
}

test("the socket-option flags are checked with messages naming the flag, the value and the fix", async () => {
  const target = ["-listen", "127.0.0.1:0", "-target", "127.0.0.1:1"];
  const cases: [string[], string][] = [
    [
      ["-send-buffer-size", "big"],
      'Flag "-send-buffer-size" cannot be "big": use bytes or a unit, for example 262144 or 256KiB\n',
    ],
    [
      ["-recv-buffer-size", "100"],
      'Flag "-recv-buffer-size" cannot be "100": it must be an integer from 1024 to 67108864; for example 262144 (256 KiB)\n',
    ],
    [
      ["-keep-alive-idle", "500ms"],
      'Flag "-keep-alive-idle" cannot be "500ms": use whole seconds with a unit, for example 30s or 1m\n',
    ],
    [
      ["-keep-alive-count", "x"],
      'Flag "-keep-alive-count" cannot be "x": use a whole number of probes, for example 9\n',
    ],
    [
      ["-keep-alive-count", "500"],
      'Flag "-keep-alive-count" cannot be "500": it must be an integer from 1 to 127; for example 9 (unanswered probes)\n',
    ],
    [
      ["-tcp-quick-ack", "-protocol", "http2", "-h2c"],
      'Flag "-tcp-quick-ack" applies to -protocol tcp or tls (TCP sockets), not http2\n',
    ],
    [
      ["-tcp-fast-open", "-config", "x.yaml"],
      'Flag "-tcp-fast-open" cannot be combined with -config: put it in the config file instead\n',
    ],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await cli(args.includes("-config") ? args : [...target, ...args]);
    assert.equal(stderr, message);
    assert.equal(code, 2);
  }
});

test("the socket-option flags reach the tunnel", async () => {
  let logs = "";
  const stop = new AbortController();
  const done = main([
    "-listen",
    "127.0.0.1:0",
    "-target",
    "127.0.0.1:1",
    "-tcp-quick-ack",
    "-tcp-fast-open",
    "-send-buffer-size",
    "64KiB",
    "-keep-alive-idle",
    "1m",
    "-log-format",
    "json",
  ], {
    io: { stdout: () => {}, stderr: (t) => void (logs += t), isTerminal: false },
    signal: stop.signal,
  });
  const started = Date.now();
  while (!logs.includes('"ready"') && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
  stop.abort();
  assert.equal(await done, 0, logs);
  if (libc) assert.ok(!logs.includes("socket options not"), logs);
  else assert.match(logs, /socket options not applied/);
});

test("without FFI the socket options are not applied, the reason is reported, and connections go on", async () => {
  const { execFile } = await import("node:child_process");
  const fixture = new URL("./_no_ffi_tunnel.ts", import.meta.url).pathname;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["run", "--allow-net", "--allow-read", "--allow-env", fixture],
      { timeout: 60_000 },
      (error, out, err) => error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    );
  });
  const report = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assert.equal(report.echoed, "ping");
  assert.equal(report.socketOptions.applied, 0);
  assert.equal(report.socketOptions.failed, 0);
  assert.match(report.reason, /ffi/i);
  assert.equal(report.socketOptions.unavailable, report.reason);
}, { ignore: runtimeName === "bun" ? "Bun cannot run without FFI" : false });
