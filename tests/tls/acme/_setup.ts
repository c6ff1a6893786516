/**
 * Shared pieces of the ACME tests: a temporary storage folder, manager options for a running
 * pebble, and a TLS round trip that verifies a served chain against pebble's root.
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import type { AutoManagerOptions, CertificatePair } from "../../../tls/mod.ts";
import type { Pebble } from "./_pebble.ts";

/** A temporary folder, removed on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), "ts-tunnel-acme-"));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** Options that point a manager at `pebble`, with HTTP-01 on pebble's validation port. */
export function pebbleOptions(pebble: Pebble, storageDir: string, extra: AutoManagerOptions = {}): AutoManagerOptions {
  return {
    email: "test@example.com",
    agreeTerms: true,
    directoryUrl: pebble.directoryUrl,
    caBundle: pebble.listenerCaPem,
    storageDir,
    httpChallenge: { hostname: "127.0.0.1", port: pebble.httpPort },
    statusPollMs: 100,
    retry: { initialDelayMs: 500, maxDelayMs: 2_000 },
    lockStaleMs: 10_000,
    lockTimeoutMs: 20_000,
    ...extra,
  };
}

/** Pebble's issuing root (random per pebble start). */
export async function pebbleRoot(pebble: Pebble): Promise<string> {
  const { status, body } = await pebble.management("/roots/0");
  if (status !== 200) throw new Error(`GET /roots/0 answered ${status}`);
  return body;
}

/**
 * Serves `lookup(serverName)` from a `node:tls` server (SNI callback) and connects to it with
 * `servername`, trusting only `rootPem`; resolves to what the client saw once a byte echoed.
 */
export async function tlsRoundTrip(
  lookup: (serverName: string) => CertificatePair | undefined,
  servername: string,
  rootPem: string,
): Promise<{ authorized: boolean; authorizationError: string | undefined; subjectAltName: string | undefined }> {
  const server = tls.createServer({
    SNICallback: (name, done) => {
      const pair = lookup(name);
      if (!pair) return done(new Error(`no certificate for ${name}`));
      done(null, tls.createSecureContext({ cert: pair.cert, key: pair.key }));
    },
  }, (socket) => {
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("TLS round trip timed out"));
      }, 10_000);
      const socket = tls.connect({ host: "127.0.0.1", port, servername, ca: rootPem }, () => {
        const peer = socket.getPeerCertificate();
        socket.write("x");
        socket.once("data", () => {
          clearTimeout(timer);
          const seen = {
            authorized: socket.authorized,
            authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
            subjectAltName: peer?.subjectaltname,
          };
          socket.end();
          resolve(seen);
        });
      });
      socket.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
