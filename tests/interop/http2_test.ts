/**
 * The http2 proxy against real third-party peers from Debian: nghttp (nghttp2-client) and curl as
 * clients (h2 over TLS with ALPN, HTTP/1.1, h2c prior knowledge, HTTPS-proxy CONNECT), and Caddy
 * as an h2c / HTTP/1.1 upstream. Each binary is skipped with a reason when it is missing.
 */
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { testCerts } from "../_util/certs.ts";
import { closedLoopbackPort, randomBytes } from "../_util/echo_server.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import { startEchoBackend, startHttp1Backend, startProxy } from "../protocols/http2/_fixtures.ts";

/** Upper bound for one client run. */
const RUN_TIMEOUT_MS = 15_000;

function which(binary: string): string | undefined {
  const found = spawnSync("sh", ["-c", `command -v ${binary}`], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

function missing(binary: string, pkg: string): string | false {
  return which(binary) ? false : `${binary} is not installed (apt-get install ${pkg}); .ci/run installs it`;
}

/** Runs a client asynchronously (the proxy under test lives in this process) with a bounded timeout. */
function run(binary: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(binary, args, { timeout: RUN_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const noNghttp = missing("nghttp", "nghttp2-client");
const noCurl = missing("curl", "curl");
const noCaddy = missing("caddy", "caddy");

test("nghttp negotiates h2 with the proxy and gets the backend's answer", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startProxy({ target: backend.target });
  const out = await run("nghttp", ["-v", `https://127.0.0.1:${proxy.addr.port}/from-nghttp?x=1`]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /The negotiated protocol: h2\b/);
  assert.match(out.stdout, /"url":"\/from-nghttp\?x=1"/);
  assert.match(out.stdout, /"x-forwarded-proto":"https"/);
}, { ignore: noNghttp });

test("nghttp uploads 4 MiB through the proxy byte-exact", async () => {
  let digest = "";
  await using backend = await startHttp1Backend((req, res) => {
    const hash = createHash("sha256");
    req.on("data", (chunk: Uint8Array) => hash.update(chunk));
    req.on("end", () => res.end(digest = hash.digest("hex")));
  });
  await using proxy = await startProxy({ target: backend.target });
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-h2-"));
  try {
    const payload = randomBytes(4 * 1024 * 1024, 99);
    await writeFile(join(dir, "upload.bin"), payload);
    const out = await run("nghttp", ["-d", join(dir, "upload.bin"), `https://127.0.0.1:${proxy.addr.port}/up`]);
    assert.equal(out.code, 0, out.stderr);
    const expected = createHash("sha256").update(payload).digest("hex");
    assert.equal(digest, expected);
    assert.equal(out.stdout.trim(), expected);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, { ignore: noNghttp });

test("curl --http2 verifies the certificate, negotiates HTTP/2 and gets the body", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startProxy({ target: backend.target, altSvc: 4433 });
  const { caFile } = await testCerts();
  const url = `https://localhost:${proxy.addr.port}/curl`;
  const body = await run("curl", ["-sS", "--http2", "--cacert", caFile, url]);
  assert.equal(body.code, 0, body.stderr);
  assert.equal(JSON.parse(body.stdout).url, "/curl");
  const version = await run("curl", [
    "-sS",
    "--http2",
    "--cacert",
    caFile,
    "-o",
    "/dev/null",
    "-w",
    "%{http_version}",
    url,
  ]);
  assert.equal(version.stdout, "2");
  const h1 = await run("curl", [
    "-sS",
    "--http1.1",
    "--cacert",
    caFile,
    "-D",
    "-",
    "-o",
    "/dev/null",
    "-w",
    "%{http_version}",
    url,
  ]);
  assert.match(h1.stdout, /\r\nalt-svc: h3=":4433"; ma=86400\r\n/i);
  assert.ok(h1.stdout.endsWith("1.1"), h1.stdout);
}, { ignore: noCurl });

test("curl --http2-prior-knowledge talks h2c to the proxy in h2c mode", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startProxy({ target: backend.target, h2c: true });
  const url = `http://127.0.0.1:${proxy.addr.port}/h2c`;
  const out = await run("curl", ["-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}", url]);
  assert.equal(out.code, 0, out.stderr);
  const [json, version] = out.stdout.split("\n");
  assert.equal(version, "2");
  assert.equal(JSON.parse(json).headers["x-forwarded-proto"], "http");
}, { ignore: noCurl });

test("curl tunnels through the proxy as an HTTPS proxy (CONNECT) to an allowed target only", async () => {
  await using backend = await startEchoBackend();
  const { caFile } = await testCerts();
  await using proxy = await startProxy({ target: "127.0.0.1:1", connectAllow: [backend.target] });
  const viaProxy = (url: string) =>
    run("curl", ["-sS", "-p", "-x", `https://localhost:${proxy.addr.port}`, "--proxy-cacert", caFile, url]);
  const allowed = await viaProxy(`http://${backend.target}/through-tunnel`);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(JSON.parse(allowed.stdout).url, "/through-tunnel");
  const refused = await viaProxy(`http://127.0.0.1:${await closedLoopbackPort()}/`);
  assert.equal(refused.code, 56);
  assert.match(refused.stderr, /CONNECT tunnel failed, response 403/);
  assert.equal(proxy.stats().tunnels, 1);
}, { ignore: noCurl });

async function startCaddy(port: number, dir: string): Promise<() => Promise<void>> {
  await writeFile(
    join(dir, "Caddyfile"),
    `{\n\tadmin off\n\tauto_https off\n\tservers {\n\t\tprotocols h1 h2c\n\t}\n}\n` +
      `http://:${port} {\n\tbind 127.0.0.1\n\trespond "proto={http.request.proto} host={http.request.host} ` +
      `xfp={http.request.header.X-Forwarded-Proto}" 200\n}\n`,
  );
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
  const child = spawn("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (chunk: Uint8Array) => log = (log + new TextDecoder().decode(chunk)).slice(-2_000));
  let gone = false;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve((gone = true, undefined))));
  try {
    await waitFor(
      () =>
        gone ? Promise.reject(new Error("Caddy exited")) : new Promise<boolean>((resolve) => {
          const socket = net.connect({ host: "127.0.0.1", port }, () => {
            socket.destroy();
            resolve(true);
          });
          socket.once("error", () => resolve(false));
        }),
      "Caddy to listen",
      15_000,
    );
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw new Error(`Caddy did not start: ${(error as Error).message}; its log ends with:\n${log}`);
  }
  return async () => {
    child.kill("SIGTERM");
    await exited;
  };
}

test("Caddy as the upstream: the proxy speaks h2c and HTTP/1.1 to a real third-party server", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-caddy-"));
  const port = await closedLoopbackPort();
  const stop = await startCaddy(port, dir);
  try {
    const { caFile } = await testCerts();
    for (const [upstream, proto] of [["h2c", "HTTP/2.0"], ["http1", "HTTP/1.1"]] as const) {
      await using proxy = await startProxy({ target: `127.0.0.1:${port}`, upstream });
      const out = await run("curl", ["-sS", "--http2", "--cacert", caFile, `https://localhost:${proxy.addr.port}/`]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, `proto=${proto} host=localhost xfp=https`);
    }
  } finally {
    await stop();
    await rm(dir, { recursive: true, force: true });
  }
}, { ignore: noCaddy || noCurl });
