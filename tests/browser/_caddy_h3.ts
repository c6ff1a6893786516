/**
 * Caddy (Debian `caddy`) as the reference HTTP/3 reverse proxy for the browser tests: it serves
 * h1, h2 and h3 on one TLS port (TCP and UDP) in front of an upstream, with the test certificate.
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { TestCerts } from "../_util/certs.ts";
import { onPath } from "../_util/chromium.ts";
import { closedLoopbackPort } from "../_util/echo_server.ts";
import { waitFor } from "../_util/wait.ts";

/** A running HTTPS/HTTP/3 front (Caddy, or our http3 listener) on 127.0.0.1. */
export interface H3Front extends AsyncDisposable {
  /** The port, the same for TCP (h1/h2) and UDP (h3). */
  readonly port: number;
}

/** The skip reason when Caddy is missing, or `false` when it is installed. */
export const caddyMissing: string | false = onPath("caddy") ? false : "caddy is not installed (apt-get install caddy)";

/** Upper bound for Caddy to start listening, and then to exit on SIGTERM. */
const CADDY_TIMEOUT_MS = 15_000;

function caddyfile(port: number, target: string, certs: TestCerts): string {
  return `{
\tadmin off
\tauto_https off
\tservers {
\t\tprotocols h1 h2 h3
\t}
}
https://localhost:${port} {
\tbind 127.0.0.1
\ttls ${certs.fullchainFile} ${certs.keyFile}
\treverse_proxy ${target}
}
`;
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Starts Caddy as an h3 (and h2/h1) reverse proxy to `target` with the test certificate, and waits
 * until its server runs. Disposing it stops Caddy (SIGTERM, then SIGKILL) and removes its folder.
 */
export async function startCaddyH3(target: string, certs: TestCerts): Promise<H3Front> {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-caddy-h3-"));
  const port = await closedLoopbackPort();
  await writeFile(join(dir, "Caddyfile"), caddyfile(port, target, certs));
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
  const child = spawn("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => log = (log + chunk).slice(-4_000));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once("close", () => resolve(void (exited = true))));
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), CADDY_TIMEOUT_MS);
    await exit;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error("Caddy exited");
        return log.includes('"server running"') && await tcpOpen(port);
      },
      "Caddy to serve h3",
      CADDY_TIMEOUT_MS,
    );
  } catch (error) {
    await stop();
    throw new Error(`Caddy did not start: ${(error as Error).message}; its log ends with:\n${log}`);
  }
  return { port, [Symbol.asyncDispose]: stop };
}
