/**
 * The http3 proxy against real third-party peers from Debian: gtlsclient (ngtcp2-client, a real
 * HTTP/3 client on nghttp3) sends requests with bodies through our listener to a `node:http`
 * upstream, and the same run goes through Caddy as a reference HTTP/3 reverse proxy. 64 MiB bodies
 * go both ways and are checked byte-exact (SHA-256 on the far side). Each binary is skipped with a
 * reason when it is missing.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Http3Proxy } from "../../protocols/http3/mod.ts";
import { testCerts } from "../_util/certs.ts";
import { noGtlsclient, runGtlsclient } from "../_util/gtlsclient.ts";
import { closedLoopbackPort, randomBytes } from "../_util/echo_server.ts";
import { runtimeName, test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import { startHttp1Backend } from "../protocols/http2/_fixtures.ts";

/** Upper bound for one gtlsclient run. */
const RUN_TIMEOUT_MS = 120_000;
const MIB = 1024 * 1024;

function which(binary: string): string | undefined {
  const found = spawnSync("sh", ["-c", `command -v ${binary}`], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

function missing(binary: string, pkg: string): string | false {
  return which(binary) ? false : `${binary} is not installed (apt-get install ${pkg}); .ci/run installs it`;
}

const noCaddy = missing("caddy", "caddy");

function report(line: string): void {
  // deno-lint-ignore no-console
  console.log(`  [${runtimeName}] ${line}`);
}

/** gtlsclient with {@linkcode RUN_TIMEOUT_MS} as its bound. */
function gtlsclient(port: number, args: string[], uris: string[]) {
  return runGtlsclient(port, args, uris, RUN_TIMEOUT_MS);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Writes with backpressure. */
async function writeAll(res: http.ServerResponse, data: Uint8Array, chunk = 256 * 1024): Promise<void> {
  for (let off = 0; off < data.byteLength; off += chunk) {
    if (!res.write(data.subarray(off, off + chunk))) await new Promise((resolve) => res.once("drain", resolve));
  }
}

/**
 * The upstream: `POST /echo/…` answers with `x-echo: <url> <size> <sha256>` and the forwarding
 * fields it got; `GET /big` sends `big` (64 MiB); `POST /upload` records the body's size and hash.
 */
async function startUpstream(big: Uint8Array) {
  const uploads: { size: number; sha: string }[] = [];
  const backend = await startHttp1Backend((req, res) => {
    if (req.method === "GET" && req.url === "/big") {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(big.byteLength) });
      writeAll(res, big).then(() => res.end(), () => res.destroy());
      return;
    }
    const hash = createHash("sha256");
    let size = 0;
    req.on("data", (chunk: Uint8Array) => {
      size += chunk.byteLength;
      hash.update(chunk);
    });
    req.on("end", () => {
      const sha = hash.digest("hex");
      if (req.url === "/upload") uploads.push({ size, sha });
      res.writeHead(200, {
        "content-type": "text/plain",
        "x-echo": `${req.url} ${size} ${sha}`,
        "x-got-xff": String(req.headers["x-forwarded-for"]),
        "x-got-xfp": String(req.headers["x-forwarded-proto"]),
      });
      res.end(`ok ${size}\n`);
    });
  });
  return Object.assign(backend, { uploads });
}

async function startOurProxy(target: string): Promise<Http3Proxy> {
  const certs = await testCerts();
  const proxy = new Http3Proxy({ hostname: "127.0.0.1", target, cert: certs.certPem + certs.caPem, key: certs.keyPem });
  await proxy.listen();
  return proxy;
}

/** Caddy as an HTTP/3 reverse proxy (h1 h2 h3 on one port) to `target`. */
async function startCaddy(port: number, target: string, dir: string): Promise<() => Promise<void>> {
  const certs = await testCerts();
  await writeFile(
    join(dir, "Caddyfile"),
    `{\n\tadmin off\n\tauto_https off\n\tservers {\n\t\tprotocols h1 h2 h3\n\t}\n}\n` +
      `https://localhost:${port}, https://127.0.0.1:${port} {\n\tbind 127.0.0.1\n` +
      `\ttls ${certs.fullchainFile} ${certs.keyFile}\n\treverse_proxy ${target}\n}\n`,
  );
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
  const child = spawn("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (chunk: Uint8Array) => log = (log + new TextDecoder().decode(chunk)).slice(-2_000));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  // Ready once an HTTP/3 request through it succeeds (its UDP listener comes up with the TCP one).
  const probe = `https://localhost:${port}/echo/ready`;
  const ready = await waitFor(
    async () => child.exitCode !== null || (await gtlsclient(port, ["--handshake-timeout=1s"], [probe])).code === 0,
    "Caddy h3",
    15_000,
  )
    .then(() => child.exitCode === null, () => false);
  if (!ready) {
    await stop();
    throw new Error(`Caddy did not start; its log ends with:\n${log}`);
  }
  return stop;
}

/** 100 POSTs with a 16 KiB body each, to distinct paths, on one connection; every answer checked. */
async function hundredRequests(port: number, dir: string): Promise<void> {
  const body = randomBytes(16 * 1024, 7);
  const bodyFile = join(dir, "body.bin");
  await writeFile(bodyFile, body);
  const uris = Array.from({ length: 100 }, (_, i) => `https://localhost:${port}/echo/${i}?q=${i}`);
  const started = performance.now();
  const { code, streams } = await gtlsclient(port, ["-m", "POST", "-d", bodyFile, "-n", "100"], uris);
  report(`gtlsclient: 100 POSTs x 16 KiB in ${(performance.now() - started).toFixed(0)} ms`);
  assert.equal(code, 0, "gtlsclient exit code");
  assert.equal(streams.size, 100);
  const seen = new Set<string>();
  for (const [id, printed] of streams) {
    assert.equal(printed.status, 200, `stream ${id}`);
    const echo = printed.headers.get("x-echo") ?? "";
    const [url, size, sha] = echo.split(" ");
    assert.match(url, /^\/echo\/\d+\?q=\d+$/);
    assert.equal(size, String(body.byteLength), `stream ${id}: ${echo}`);
    assert.equal(sha, sha256(body), `stream ${id}`);
    assert.equal(printed.headers.get("x-got-xfp"), "https");
    assert.equal(printed.headers.get("x-got-xff"), "127.0.0.1");
    seen.add(url);
  }
  assert.equal(seen.size, 100, "every path answered once");
}

test("gtlsclient: 100 requests with bodies through Http3Proxy to an HTTP/1.1 upstream", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-h3-"));
  await using upstream = await startUpstream(new Uint8Array(0));
  const proxy = await startOurProxy(upstream.target);
  try {
    await hundredRequests(proxy.addr.port, dir);
    const stats = proxy.stats();
    assert.equal(stats.requests, 100);
    assert.equal(stats.bytesIn, 100 * 16 * 1024);
    assert.equal(stats.upstreamErrors, 0);
  } finally {
    await proxy.close({ timeoutMs: 2_000 });
    await rm(dir, { recursive: true, force: true });
  }
}, { ignore: noGtlsclient, timeoutMs: 120_000 });

test("gtlsclient: the same 100 requests through Caddy (reference HTTP/3 reverse proxy)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-h3-caddy-"));
  await using upstream = await startUpstream(new Uint8Array(0));
  const port = await closedLoopbackPort();
  const stop = await startCaddy(port, upstream.target, dir);
  try {
    await waitFor(
      async () => (await gtlsclient(port, [], [`https://localhost:${port}/echo/ready`])).code === 0,
      "Caddy h3",
      15_000,
    );
    await hundredRequests(port, dir);
  } finally {
    await stop();
    await rm(dir, { recursive: true, force: true });
  }
}, { ignore: noGtlsclient || noCaddy, timeoutMs: 120_000 });

test("gtlsclient: a 64 MiB request body reaches the upstream byte-exact through Http3Proxy", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-h3-up-"));
  await using upstream = await startUpstream(new Uint8Array(0));
  const proxy = await startOurProxy(upstream.target);
  try {
    const data = randomBytes(64 * MIB, 11);
    const file = join(dir, "upload.bin");
    await writeFile(file, data);
    const started = performance.now();
    const { code, streams } = await gtlsclient(proxy.addr.port, ["-m", "POST", "-d", file], [
      `https://localhost:${proxy.addr.port}/upload`,
    ]);
    report(`64 MiB upload in ${(performance.now() - started).toFixed(0)} ms`);
    assert.equal(code, 0);
    assert.equal([...streams.values()][0]?.status, 200);
    assert.deepEqual(upstream.uploads, [{ size: data.byteLength, sha: sha256(data) }]);
  } finally {
    await proxy.close({ timeoutMs: 2_000 });
    await rm(dir, { recursive: true, force: true });
  }
}, { ignore: noGtlsclient, timeoutMs: 180_000 });

test("gtlsclient: a 64 MiB response body arrives byte-exact through Http3Proxy (--download)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-h3-down-"));
  const big = randomBytes(64 * MIB, 13);
  await using upstream = await startUpstream(big);
  const proxy = await startOurProxy(upstream.target);
  try {
    const started = performance.now();
    const { code, streams } = await gtlsclient(proxy.addr.port, ["--download", dir], [
      `https://localhost:${proxy.addr.port}/big`,
    ]);
    report(`64 MiB download in ${(performance.now() - started).toFixed(0)} ms`);
    assert.equal(code, 0);
    assert.equal([...streams.values()][0]?.status, 200);
    const got = await readFile(join(dir, "big"));
    assert.equal(got.byteLength, big.byteLength);
    assert.equal(sha256(got), sha256(big));
  } finally {
    await proxy.close({ timeoutMs: 2_000 });
    await rm(dir, { recursive: true, force: true });
  }
}, { ignore: noGtlsclient, timeoutMs: 180_000 });
