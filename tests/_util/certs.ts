/**
 * Test certificates made with `openssl`: a private CA, a server leaf for `localhost`, `127.0.0.1`
 * and `::1` (signed by the CA; rustls rejects a self-signed leaf used as its own CA), and a client
 * certificate for mutual TLS. {@linkcode testCerts} makes one set per process; {@linkcode createTestCerts}
 * makes a fresh, independent set (its own CA) each call. The files are removed when the process exits.
 * @module
 */
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** Paths and PEM texts of one certificate set. */
export interface TestCerts {
  /** The temporary folder holding every file. */
  dir: string;
  /** The CA certificate (PEM file). */
  caFile: string;
  caPem: string;
  /** The server leaf certificate alone (PEM file). */
  certFile: string;
  certPem: string;
  /** The server leaf's private key (PKCS#8 PEM file). */
  keyFile: string;
  keyPem: string;
  /** Leaf followed by the CA. */
  fullchainFile: string;
  /** A client certificate (CN=test-client, extendedKeyUsage clientAuth) signed by the same CA. */
  clientCertFile: string;
  clientCertPem: string;
  clientKeyFile: string;
  clientKeyPem: string;
}

/** Upper bound for one `openssl` run. */
const OPENSSL_TIMEOUT_MS = 20_000;

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd, timeout: OPENSSL_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args[0]} failed: ${stderr || error.message}`, { cause: error }));
      else resolve();
    });
  });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
const dirs: string[] = [];
let cleanupInstalled = false;

async function issue(dir: string, name: string, subject: string, extensions: string): Promise<void> {
  await openssl(["req", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-set_serial",
    `0x${crypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "")}`,
    "-out",
    `${name}.pem`,
    "-days",
    "30",
    "-extfile",
    `${name}.ext`,
  ], dir);
}

/**
 * Creates a new, independent certificate set (its own CA) in a new temporary folder.
 *
 * @param caName The CA's common name.
 * @returns Paths and PEM texts.
 */
export async function createTestCerts(caName = "ts-tunnel Test CA"): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-certs-"));
  dirs.push(dir);
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.on("exit", () => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });
  }
  await openssl([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "30",
    "-subj",
    `/CN=${caName}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  await issue(
    dir,
    "leaf",
    "/CN=localhost",
    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await issue(dir, "client", "/CN=test-client", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  const read = (file: string) => readFile(join(dir, file), "utf8");
  const [caPem, certPem, keyPem, clientCertPem, clientKeyPem] = await Promise.all(
    ["ca.pem", "leaf.pem", "leaf.key", "client.pem", "client.key"].map(read),
  );
  await writeFile(join(dir, "fullchain.pem"), certPem + caPem);
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    caPem,
    certFile: join(dir, "leaf.pem"),
    certPem,
    keyFile: join(dir, "leaf.key"),
    keyPem,
    fullchainFile: join(dir, "fullchain.pem"),
    clientCertFile: join(dir, "client.pem"),
    clientCertPem,
    clientKeyFile: join(dir, "client.key"),
    clientKeyPem,
  };
}

let shared: Promise<TestCerts> | undefined;

/**
 * The process-wide certificate set, made once on first use.
 *
 * @returns Paths and PEM texts of the CA, the server leaf and the client certificate.
 */
export function testCerts(): Promise<TestCerts> {
  shared ??= createTestCerts();
  return shared;
}
