/**
 * Internal: TLS material from files or PEM strings, checked before use (a certificate that does
 * not parse, or a key that does not match it, is reported with the file's name), and a poller that
 * notices when the files change.
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { clearInterval, setInterval } from "node:timers";

/** A certificate chain and its key, as PEM. */
export interface KeyPair {
  /** Certificate chain, leaf first. */
  readonly cert: string;
  /** Private key of the leaf. */
  readonly key: string;
  /** The leaf's subject, serial number and expiry, for logs. */
  readonly summary: CertificateSummary;
  /** The CA bundle (PEM) client certificates must chain to, when one is loaded with the pair. */
  readonly clientCa?: string;
}

/** What a loaded certificate is, for logs and reload events. */
export interface CertificateSummary {
  /** Subject distinguished name, e.g. `"CN=localhost"`. */
  readonly subject: string;
  /** Serial number, upper-case hex. */
  readonly serialNumber: string;
  /** Expiry, as an ISO date. */
  readonly validTo: string;
}

/** Where a key pair comes from: files (reloadable) or PEM strings. */
export interface KeyPairSource {
  certFile?: string;
  keyFile?: string;
  cert?: string;
  key?: string;
}

/** Where a CA bundle comes from. */
export interface CaSource {
  file?: string;
  pem?: string;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    const detail = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : reason(error);
    throw new Error(`Cannot read the TLS ${what} "${path}": ${detail}`, { cause: error });
  }
}

/** Parses the first certificate of a PEM chain; `where` names the file (or "the PEM string") in errors. */
function parseCertificate(pem: string, where: string): X509Certificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`Cannot load the TLS certificate ${where}: no "BEGIN CERTIFICATE" block found`);
  }
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new Error(`Cannot load the TLS certificate ${where}: ${reason(error)}`, { cause: error });
  }
}

/**
 * Reads and checks a key pair: the certificate must parse and the key must match it.
 *
 * @throws {Error} Naming the file and what is wrong with it.
 */
export async function loadKeyPair(source: KeyPairSource): Promise<KeyPair> {
  const certWhere = source.certFile !== undefined ? `"${source.certFile}"` : "(PEM string)";
  const keyWhere = source.keyFile !== undefined ? `"${source.keyFile}"` : "(PEM string)";
  const [cert, key] = await Promise.all([
    source.certFile !== undefined ? readText(source.certFile, "certificate") : Promise.resolve(source.cert ?? ""),
    source.keyFile !== undefined ? readText(source.keyFile, "key") : Promise.resolve(source.key ?? ""),
  ]);
  const x509 = parseCertificate(cert, certWhere);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`Cannot load the TLS key ${keyWhere}: ${reason(error)}`, { cause: error });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new Error(`Cannot use the TLS key ${keyWhere}: it does not match the certificate ${certWhere}`);
  }
  return {
    cert,
    key,
    summary: {
      subject: x509.subject,
      serialNumber: x509.serialNumber.toUpperCase(),
      validTo: x509.validToDate?.toISOString() ?? x509.validTo,
    },
  };
}

/**
 * Reads and checks a CA bundle (one or more PEM certificates).
 *
 * @throws {Error} Naming the file and what is wrong with it.
 */
export async function loadCa(source: CaSource, what: string): Promise<string> {
  const pem = source.file !== undefined ? await readText(source.file, what) : source.pem ?? "";
  parseCertificate(pem, source.file !== undefined ? `"${source.file}"` : "(PEM string)");
  return pem;
}

async function signature(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(paths.map(async (path) => {
    try {
      const s = await stat(path);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return "missing";
    }
  }));
  return parts.join("|");
}

/** Options for {@linkcode FilePoller}. */
export interface FilePollerOptions {
  /** The files to watch. */
  paths: readonly string[];
  /** Time between polls, in milliseconds. */
  intervalMs: number;
  /** Called once a change has held still for one poll (so a file being written is not read half-way). */
  onChange: () => void;
}

/**
 * Polls the files' size, mtime and inode on an unref'd timer (it never keeps the process alive).
 * More portable than `fs.watch`, and it survives the rename that atomic writers (and Kubernetes
 * secret volumes) use to replace a file.
 */
export class FilePoller {
  readonly #options: FilePollerOptions;
  readonly #timer: ReturnType<typeof setInterval>;
  #seen: string;
  #pending: string | undefined;
  #polling = false;
  #stopped = false;

  private constructor(options: FilePollerOptions, seen: string) {
    this.#options = options;
    this.#seen = seen;
    this.#timer = setInterval(() => void this.#poll(), options.intervalMs);
    this.#timer.unref();
  }

  /** Notes the files' current state; call it before loading them, so a change made meanwhile is seen. */
  static async snapshot(paths: readonly string[]): Promise<string> {
    return await signature(paths);
  }

  /** Starts polling from the state `seen` (from {@linkcode FilePoller.snapshot}). */
  static start(options: FilePollerOptions, seen: string): FilePoller {
    return new FilePoller(options, seen);
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    try {
      const now = await signature(this.#options.paths);
      if (this.#stopped) return;
      if (now === this.#seen) {
        this.#pending = undefined;
      } else if (now === this.#pending) {
        this.#seen = now;
        this.#pending = undefined;
        this.#options.onChange();
      } else {
        this.#pending = now;
      }
    } finally {
      this.#polling = false;
    }
  }

  /** Stops polling. Idempotent. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }
}
