/**
 * Starts Debian's `pebble` (a test ACME CA) and `pebble-challtestsrv` (its mock DNS) on free
 * loopback ports, with the settings that make them deterministic (`PEBBLE_VA_NOSLEEP=1`,
 * `PEBBLE_WFE_NONCEREJECT=0`). Pebble serves its ACME and management APIs with the shared test
 * leaf certificate, so clients trust `testCerts().caPem`; the certificates it issues chain to a
 * random root, fetched from `/roots/0`. Every wait is bounded and `stop()` kills both children.
 * @module
 */
import type { Buffer } from "node:buffer";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import https from "node:https";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { closedLoopbackPort } from "../../_util/echo_server.ts";
import { testCerts } from "../../_util/certs.ts";
import { sleep } from "../../_util/wait.ts";

function which(binary: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${binary}`]).status === 0;
}

/** Why the pebble tests are skipped, or `false` when both binaries are installed (always run on CI). */
export const pebbleMissing: string | false = which("pebble") && which("pebble-challtestsrv")
  ? false
  : process.env.CI
  ? false
  : "pebble is not installed (apt-get install pebble); .ci/run installs it";

/** Options for {@linkcode startPebble}. */
export interface PebbleOptions {
  /** Lifetime of issued certificates in seconds (pebble's `certificateValidityPeriod`). */
  validitySeconds?: number;
  /** External Account Binding keys (kid → base64url HMAC key); when set, pebble requires EAB. */
  externalAccountKeys?: Record<string, string>;
}

/** A running pebble + challtestsrv pair. */
export interface Pebble extends AsyncDisposable {
  /** The ACME directory URL. */
  readonly directoryUrl: string;
  /** The CA that signed pebble's own HTTPS listener (our test CA). */
  readonly listenerCaPem: string;
  /** The port pebble validates HTTP-01 on; the manager's HTTP-01 server must listen there. */
  readonly httpPort: number;
  /** The port pebble validates TLS-ALPN-01 on. */
  readonly tlsPort: number;
  /** challtestsrv's management API, for `ChalltestsrvProvider`. */
  readonly challtestsrvUrl: string;
  /** challtestsrv's mock DNS, as `"127.0.0.1:port"`. */
  readonly dnsServer: string;
  /** GET on pebble's management API (`/roots/0`, `/cert-status-by-serial/…`). */
  management(path: string): Promise<{ status: number; body: string }>;
  /** Stops pebble only (challtestsrv keeps running). */
  stopPebble(): Promise<void>;
  /** Stops both processes; idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, timeout: 2_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on("error", reject);
  });
}

async function until(ready: () => Promise<boolean>, what: string, child: ChildProcess, log: () => string) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited early: ${log()}`);
    if (await ready().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`Timed out starting ${what}: ${log()}`);
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(child.pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS));
  if (await Promise.race([exited, timer]) === "timeout") {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch { /* gone */ }
    await Promise.race([exited, sleep(1_000)]);
  }
}

function run(binary: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return { child, log: () => output };
}

/** Attempts of {@linkcode startPebble}: a port picked free can be taken by a parallel test before pebble binds it. */
const START_ATTEMPTS = 3;

/**
 * Starts challtestsrv, then pebble pointed at its DNS, and waits until both answer. Tries again
 * on fresh ports when one of them was taken in the meantime (EADDRINUSE).
 *
 * @param options Certificate lifetime.
 * @returns The running pair.
 */
export async function startPebble(options: PebbleOptions = {}): Promise<Pebble> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startPebbleOnce(options);
    } catch (error) {
      if (attempt >= START_ATTEMPTS || !String(error).includes("address already in use")) throw error;
    }
  }
}

async function startPebbleOnce(options: PebbleOptions): Promise<Pebble> {
  const certs = await testCerts();
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-pebble-"));
  const [acmePort, managementPort, httpPort, tlsPort, dnsPort, challPort] = [
    await closedLoopbackPort(),
    await closedLoopbackPort(),
    await closedLoopbackPort(),
    await closedLoopbackPort(),
    await closedLoopbackPort(),
    await closedLoopbackPort(),
  ];
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: certs.fullchainFile,
      privateKey: certs.keyFile,
      httpPort,
      tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: options.externalAccountKeys !== undefined,
      ...(options.externalAccountKeys ? { externalAccountMACKeys: options.externalAccountKeys } : {}),
      ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
    },
  };
  await writeFile(join(dir, "pebble.json"), JSON.stringify(config));
  const chall = run("pebble-challtestsrv", [
    "-dns01",
    `127.0.0.1:${dnsPort}`,
    "-management",
    `127.0.0.1:${challPort}`,
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
    "-defaultIPv6",
    "",
    "-defaultIPv4",
    "127.0.0.1",
  ]);
  let pebble: ReturnType<typeof run> | undefined;
  let stopped = false;
  const stopPebble = async () => {
    if (pebble) await kill(pebble.child);
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopPebble();
    await kill(chall.child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const challtestsrvUrl = `http://127.0.0.1:${challPort}`;
    await until(
      async () => {
        const response = await fetch(`${challtestsrvUrl}/`, { signal: AbortSignal.timeout(1_000) });
        await response.body?.cancel();
        return true;
      },
      "pebble-challtestsrv",
      chall.child,
      chall.log,
    );
    pebble = run(
      "pebble",
      ["-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`, "-strict=false"],
      {
        PEBBLE_VA_NOSLEEP: "1",
        PEBBLE_WFE_NONCEREJECT: "0",
        PEBBLE_AUTHZREUSE: "0",
      },
    );
    const management = (path: string) => get(`https://127.0.0.1:${managementPort}${path}`, certs.caPem);
    const directoryUrl = `https://localhost:${acmePort}/dir`;
    await until(async () => (await get(directoryUrl, certs.caPem)).status === 200, "pebble", pebble.child, pebble.log);
    return {
      directoryUrl,
      listenerCaPem: certs.caPem,
      httpPort,
      tlsPort,
      challtestsrvUrl,
      dnsServer: `127.0.0.1:${dnsPort}`,
      management,
      stopPebble,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
