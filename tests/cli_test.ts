import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { main, VERSION } from "../cli.ts";
import { captureIo } from "./_util/admin.ts";
import { test } from "./_util/test.ts";
import { waitFor } from "./_util/wait.ts";
import {
  connectClient,
  randomBytes,
  readAll,
  roundTrip,
  sameBytes,
  startEchoServer,
  startServer,
} from "./_util/echo_server.ts";

function listeningPorts(log: string): number[] {
  return [...log.matchAll(/listening .* addr=[\d.]+:(\d+)/g)].map((m) => Number(m[1]));
}

test("main() prints the version in go-tunnel's form for -version and version", async () => {
  for (const args of [["-version"], ["--version"], ["version"]]) {
    const io = captureIo();
    assert.equal(await main(args, { io }), 0);
    assert.equal(io.out, `ts-tunnel version ${VERSION}\n`);
  }
});

test("main() rejects bad command lines with exit code 2 and a message saying how to fix them", async () => {
  const cases: [string[], string][] = [
    [
      ["-listen", ":8080", "-targt", "127.0.0.1:80"],
      'Unknown flag "-targt": did you mean "-target"? Run with --help to list the flags.\n',
    ],
    [
      ["-listen", ":8080"],
      "Missing the target: add -target HOST:PORT (for example -target 127.0.0.1:80), or use -config FILE\n",
    ],
    [
      ["-listen", "8080", "-target", "127.0.0.1:80"],
      'Flag "-listen": Cannot parse listen address "8080": expected "host:port", for example "127.0.0.1:8080"\n',
    ],
    [
      ["-target", "127.0.0.1:0"],
      'Flag "-target": Cannot parse target address "127.0.0.1:0": port must be an integer from 1 to 65535: current value is "0"\n',
    ],
    [
      ["-target", "127.0.0.1:80", "-protocol", "ftp"],
      'Flag "-protocol" cannot be "ftp": use one of tcp, tls, http2, http3, quic\n',
    ],
    [
      ["-target", "127.0.0.1:80", "-idle-timeout", "30"],
      'Flag "-idle-timeout": Cannot parse duration "30": use a number with a unit, for example 500ms, 30s, 5m or 1h\n',
    ],
    [
      ["-target", "127.0.0.1:80", "-preset", "fast"],
      'Flag "-preset" cannot be "fast": use one of server, client, high-throughput\n',
    ],
    [["-target"], 'Flag "-target" needs a value, for example: -target ADDR\n'],
    [
      ["serve"],
      'Unknown command "serve": use one of forward, run, server, client, cert, demo, version, help. Run with --help for usage.\n',
    ],
    [
      ["-config", "x.yaml", "-target", "127.0.0.1:80"],
      'Flag "-target" cannot be combined with -config: put it in the config file instead\n',
    ],
    [["run"], "Missing the config file: use run -config FILE\n"],
  ];
  for (const [args, message] of cases) {
    const io = captureIo();
    assert.equal(await main(args, { io }), 2, `exit code for ${args.join(" ")}`);
    assert.equal(io.err, message);
  }
});

test("main() exits 1 with the cause when the listen address is taken", async () => {
  await using echo = await startEchoServer();
  const io = captureIo();
  assert.equal(await main(["-listen", `127.0.0.1:${echo.port}`, "-target", "127.0.0.1:9"], { io }), 1);
  assert.match(
    io.err,
    new RegExp(`cannot start .*error="Cannot listen on \\\\"127.0.0.1:${echo.port}\\\\": address already in use"`),
  );
});

test("main() --help lists every flag with its default", async () => {
  const io = captureIo();
  assert.equal(await main(["-h"], { io }), 0);
  for (
    const flag of [
      "-protocol NAME",
      "-listen ADDR",
      "-target ADDR",
      "-config FILE",
      "-drain-timeout DUR",
      "-log-format FMT",
    ]
  ) {
    assert.ok(io.out.includes(flag), `help lacks ${flag}`);
  }
  assert.ok(io.out.includes("(default: 30s)"));
});

test("main() forwards with go-tunnel flags, logs closed connections at debug, and stops on abort", async () => {
  await using echo = await startEchoServer();
  const io = captureIo();
  const stop = new AbortController();
  const exit = main([
    "-protocol",
    "tcp",
    "-listen",
    "127.0.0.1:0",
    "--target=127.0.0.1:" + echo.port,
    "-log-level",
    "debug",
  ], {
    io,
    signal: stop.signal,
  });
  const port = await waitFor(() => listeningPorts(io.err)[0], "the listening log line");
  const payload = randomBytes(256 * 1024);
  assert.ok(sameBytes(await roundTrip(port, payload), payload));
  await waitFor(() => io.err.includes("connection closed"), "the debug line");
  assert.match(
    io.err,
    /DEBUG connection closed id=1 from=127\.0\.0\.1:\d+ in=262144 out=262144 ms=\d+ end=eof path=\S+/,
  );
  stop.abort();
  assert.equal(await exit, 0);
  assert.match(io.err, /INFO {2}stopped tunnel="tcp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+"/);
});

test("main() -config runs every listener of a go-tunnel YAML file and logs JSON", async () => {
  await using echo = await startEchoServer();
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-"));
  try {
    const file = join(dir, "config.yaml");
    await writeFile(
      file,
      `version: "1.0"
log_level: info
log_format: json
protocols:
  - name: tcp
    listen: "127.0.0.1:0"
    target: "127.0.0.1:${echo.port}"
    enabled: true
  - name: tcp
    listen: "127.0.0.1:0"
    target: "127.0.0.1:${echo.port}"
    enabled: true
`,
    );
    const io = captureIo();
    const stop = new AbortController();
    const exit = main(["-config", file], { io, signal: stop.signal });
    const ports = await waitFor(() => {
      const lines = io.err.split("\n").filter((l) => l.includes('"msg":"listening"'));
      return lines.length === 2 ? lines.map((l) => Number(JSON.parse(l).addr.split(":")[1])) : undefined;
    }, "two listeners");
    for (const port of ports) {
      assert.equal(
        new TextDecoder().decode(await roundTrip(port, new TextEncoder().encode(`via ${port}`))),
        `via ${port}`,
      );
    }
    stop.abort();
    assert.equal(await exit, 0);
    const first = JSON.parse(io.err.split("\n")[0]);
    assert.equal(first.level, "info");
    assert.equal(first.msg, "listening");
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("main() -config reports a bad file with its key path and exit code 2", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-"));
  try {
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      "protocols:\n  - name: tcp\n    listen: ':8080'\n    target: '127.0.0.1:80'\n    enable: true\n",
    );
    const io = captureIo();
    assert.equal(await main(["-config", file], { io }), 2);
    // The exact start (key path, problem) and the full list of keys it offers, whatever their order.
    assert.match(io.err, /^protocols\[0\]\.enable: unknown key; allowed keys here: name, listen, target, enabled, /);
    for (const key of ["max_connections_per_ip", "breaker_cooldown", "upstream_pool_size", "tcp_keep_alive"]) {
      assert.ok(io.err.includes(key), `the message does not offer ${key}`);
    }
    const missing = captureIo();
    assert.equal(await main(["-config", join(dir, "nope.yaml")], { io: missing }), 2);
    assert.match(missing.err, /^Cannot read config file ".*nope\.yaml": /);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("main() demo serves HTTP and echo through two forwarders", async () => {
  const io = captureIo();
  const stop = new AbortController();
  const exit = main(["demo", "-status", "off"], { io, signal: stop.signal });
  const httpPort = await waitFor(
    () => Number(/curl -v http:\/\/127\.0\.0\.1:(\d+)\//.exec(io.out)?.[1]) || undefined,
    "the demo banner",
  );
  const echoPort = Number(/nc -q1 127\.0\.0\.1 (\d+)/.exec(io.out)?.[1]);
  const response = new TextDecoder().decode(
    await roundTrip(httpPort, new TextEncoder().encode("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
  );
  assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(response.endsWith("you asked for GET /hello\n"));
  assert.equal(new TextDecoder().decode(await roundTrip(echoPort, new TextEncoder().encode("hi"))), "hi");
  stop.abort();
  assert.equal(await exit, 0);
});

/** The command that runs cli.ts on the runtime running the tests. */
function cliCommand(args: string[]): [string, string[]] {
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  return "Bun" in globalThis ? [process.execPath, [cli, ...args]] : [process.execPath, ["run", "-A", cli, ...args]];
}

test("SIGTERM lets an in-flight transfer finish, then the process exits 0; a second signal stops at once", async () => {
  // The target answers 1.5 s after the request ends, with 2 MiB.
  const body = randomBytes(2 * 1024 * 1024, 7);
  await using server = await startServer((socket) => {
    socket.on("data", () => {});
    socket.on("end", () => setTimeout(() => socket.end(body), 1500));
  });
  for (const signals of [1, 2]) {
    const [cmd, args] = cliCommand(["-listen", "127.0.0.1:0", "-target", `127.0.0.1:${server.port}`, "-status", "off"]);
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (chunk: Uint8Array) => err += new TextDecoder().decode(chunk));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const port = await waitFor(() => listeningPorts(err)[0], "the child's listening line", 30_000);
    // "ready" comes once the signal handlers are in place; a SIGTERM before that would kill the child.
    await waitFor(() => /INFO {2}ready /.test(err), "the child's ready line", 30_000);
    const client = await connectClient(port);
    const received = readAll(client);
    client.end("request");
    await new Promise((resolve) => setTimeout(resolve, 200));
    // process.kill, not child.kill: Deno's child_process reports a child it signalled as killed even when it exits 0.
    process.kill(child.pid!, "SIGTERM");
    await waitFor(() => err.includes("stopping: draining"), "the drain log line", 30_000);
    if (signals === 2) process.kill(child.pid!, "SIGTERM");
    const started = Date.now();
    const code = await exited;
    const data = await received;
    client.destroy();
    assert.equal(code, 0, `exit code ${code}: ${err}`);
    if (signals === 1) {
      assert.ok(sameBytes(data, body), "the transfer was cut by the first signal");
      assert.ok(Date.now() - started >= 800, "the process did not wait for the transfer");
    } else {
      assert.ok(data.byteLength < body.byteLength, "the second signal did not stop at once");
      assert.match(err, /WARN {2}stopping at once signal=SIGTERM/);
    }
  }
}, { timeoutMs: 90_000 });

test("main() -protocol tls -cert -key terminates TLS in front of a TCP target", async () => {
  const { testCerts } = await import("./_util/certs.ts");
  const { TlsProtocol } = await import("../protocols/tls.ts");
  const certs = await testCerts();
  await using echo = await startEchoServer();
  const io = captureIo();
  const stop = new AbortController();
  const exit = main([
    "-protocol",
    "tls",
    "-listen",
    "127.0.0.1:0",
    "-target",
    `127.0.0.1:${echo.port}`,
    "-cert",
    certs.fullchainFile,
    "-key",
    certs.keyFile,
    "-status",
    "off",
  ], { io, signal: stop.signal });
  try {
    const port = await waitFor(
      () => Number(/listening .*addr=127\.0\.0\.1:(\d+)/.exec(io.err)?.[1]) || undefined,
      "listen",
    );
    const tls = new TlsProtocol({ client: { ca: certs.caPem, serverName: "localhost" } });
    await using conn = await tls.dial({ hostname: "127.0.0.1", port });
    const writer = conn.writable.getWriter();
    await writer.write(new TextEncoder().encode("over tls"));
    const reader = conn.readable.getReader();
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value), "over tls");
    reader.releaseLock();
    writer.releaseLock();
  } finally {
    stop.abort();
  }
  assert.equal(await exit, 0);
  const missing = captureIo();
  assert.equal(
    await main(["-protocol", "tls", "-target", "127.0.0.1:1", "-cert", certs.fullchainFile], { io: missing }),
    2,
  );
  assert.equal(missing.err, "-protocol tls needs a certificate: add -key FILE\n");
});
