/**
 * {@linkcode CertificateStorage}: the ACME account and the certificates on disk, one folder per
 * CA directory, so staging and production never mix. Folders are created `0700` and files
 * written `0600`, each through a temporary file and a rename; a certificate whose key does not
 * match (a write in progress elsewhere) reads as absent.
 *
 * ```
 * <dir>/<ca>/account.key, account.json
 * <dir>/<ca>/certificates/<name>/cert.pem, key.pem, meta.json, last_error.json (while failing)
 * <dir>/<ca>/locks/<name>.lock
 * ```
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type CertificateInfo, type CertificatePair, readCertificateInfo } from "./certificate.ts";
import { acquireFileLock, type FileLock, type FileLockOptions } from "./lock.ts";

/** An ACME account as stored. */
export interface StoredAccount {
  /** The account's private key (PEM). */
  readonly key: string;
  /** The account URL the CA returned, once registered. */
  readonly url?: string;
}

/** The last failure to obtain a certificate, as stored for status tools in other processes. */
export interface StoredError {
  /** The error message. */
  readonly message: string;
  /** When it happened, in epoch milliseconds. */
  readonly at: number;
}

/** A certificate as stored, with what it says about itself. */
export interface StoredCertificate extends CertificatePair {
  /** Names, issuer, validity and serial. */
  readonly info: CertificateInfo;
  /** When it was obtained from the CA, in epoch milliseconds. */
  readonly obtainedAt: number;
}

/**
 * The default storage folder: `$XDG_DATA_HOME/ts-tunnel/acme`, else
 * `~/.local/share/ts-tunnel/acme`, else `<tmpdir>/ts-tunnel/acme`.
 *
 * @param env The environment to read `XDG_DATA_HOME` from. @default {process.env}
 * @returns The folder path.
 */
export function defaultStorageDir(env: Record<string, string | undefined> = process.env): string {
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "ts-tunnel", "acme");
  let home = "";
  try {
    home = homedir();
  } catch { /* no home folder */ }
  return home ? join(home, ".local", "share", "ts-tunnel", "acme") : join(tmpdir(), "ts-tunnel", "acme");
}

/** A file-safe folder name for a CA directory URL: `acme-v02.api.letsencrypt.org-directory`. */
function caFolder(directoryUrl: string): string {
  const url = new URL(directoryUrl);
  return `${url.host}${url.pathname}`.replace(/[^a-zA-Z0-9.-]+/g, "-").replace(/^-+|-+$/g, "").toLowerCase();
}

/** A file-safe name for a certificate's primary domain: `*.example.com` → `wildcard_.example.com`. */
function certFolder(name: string): string {
  return name.replace(/^\*\./, "wildcard_.");
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * The ACME account and certificates of one CA directory, in a folder on disk.
 *
 * @example Read the stored certificate of a domain
 * ```ts ignore
 * import { CertificateStorage, LETS_ENCRYPT_PRODUCTION } from "@ts-tunnel/tunnel/tls";
 * const storage = new CertificateStorage("/var/lib/ts-tunnel/acme", LETS_ENCRYPT_PRODUCTION);
 * const stored = await storage.loadCertificate("example.com");
 * console.log(stored?.info.notAfter);
 * ```
 */
export class CertificateStorage {
  /** The folder of this CA directory. */
  readonly root: string;

  /**
   * Creates the storage; nothing is touched on disk until the first write.
   *
   * @param dir The storage folder shared by every CA.
   * @param directoryUrl The ACME directory URL the account and certificates belong to.
   * @throws {TypeError} If `directoryUrl` is not a URL.
   */
  constructor(dir: string, directoryUrl: string) {
    this.root = join(dir, caFolder(directoryUrl));
  }

  /** The stored account, or `undefined` if there is none yet. */
  async loadAccount(): Promise<StoredAccount | undefined> {
    const key = await readText(join(this.root, "account.key"));
    if (key === undefined) return undefined;
    const meta = JSON.parse(await readText(join(this.root, "account.json")) ?? "{}") as { url?: string };
    return { key, url: meta.url };
  }

  /** Stores the account key and URL. */
  async saveAccount(account: StoredAccount): Promise<void> {
    await this.#write(this.root, "account.key", account.key);
    await this.#write(this.root, "account.json", JSON.stringify({ url: account.url }, null, 2));
  }

  /**
   * Reads the certificate stored under `name` (its primary domain).
   *
   * @param name The certificate's primary domain.
   * @returns The certificate, or `undefined` if none is stored (or its key does not match).
   */
  async loadCertificate(name: string): Promise<StoredCertificate | undefined> {
    const folder = join(this.root, "certificates", certFolder(name));
    const [cert, key, meta] = await Promise.all(
      ["cert.pem", "key.pem", "meta.json"].map((file) => readText(join(folder, file))),
    );
    if (cert === undefined || key === undefined) return undefined;
    try {
      if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) return undefined;
    } catch {
      return undefined;
    }
    const info = readCertificateInfo(cert);
    const obtainedAt = Date.parse((JSON.parse(meta ?? "{}") as { obtainedAt?: string }).obtainedAt ?? "") ||
      info.notBefore;
    return { cert, key, info, obtainedAt };
  }

  /**
   * Stores a certificate under `name`: the key first, then the chain, then `meta.json`.
   *
   * @param name The certificate's primary domain.
   * @param pair The chain and key.
   * @param obtainedAt When it was obtained. @default {Date.now()}
   * @returns The stored certificate.
   */
  async saveCertificate(
    name: string,
    pair: CertificatePair,
    obtainedAt: number = Date.now(),
  ): Promise<StoredCertificate> {
    const info = readCertificateInfo(pair.cert);
    const folder = join(this.root, "certificates", certFolder(name));
    await this.#write(folder, "key.pem", pair.key);
    await this.#write(folder, "cert.pem", pair.cert);
    await this.#write(
      folder,
      "meta.json",
      JSON.stringify({ domains: info.domains, obtainedAt: new Date(obtainedAt).toISOString() }, null, 2),
    );
    await rm(join(folder, "last_error.json"), { force: true });
    return { cert: pair.cert, key: pair.key, info, obtainedAt };
  }

  /**
   * Records the last failure to obtain the certificate stored under `name` (so that
   * `ts-tunnel cert status`, in another process, can show it); saving a certificate clears it.
   *
   * @param name The certificate's primary domain.
   * @param error The message and time of the failure.
   */
  async saveLastError(name: string, error: StoredError): Promise<void> {
    const folder = join(this.root, "certificates", certFolder(name));
    await this.#write(
      folder,
      "last_error.json",
      JSON.stringify({ message: error.message, at: new Date(error.at).toISOString() }, null, 2),
    );
  }

  /**
   * Reads the failure {@linkcode CertificateStorage.saveLastError} recorded, if any.
   *
   * @param name The certificate's primary domain.
   * @returns The last failure, or `undefined`.
   */
  async loadLastError(name: string): Promise<StoredError | undefined> {
    const text = await readText(join(this.root, "certificates", certFolder(name), "last_error.json"));
    if (text === undefined) return undefined;
    try {
      const { message, at } = JSON.parse(text) as { message?: unknown; at?: unknown };
      const time = typeof at === "string" ? Date.parse(at) : NaN;
      return typeof message === "string" && Number.isFinite(time) ? { message, at: time } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Deletes the certificate stored under `name`, if any. */
  async deleteCertificate(name: string): Promise<void> {
    await rm(join(this.root, "certificates", certFolder(name)), { recursive: true, force: true });
  }

  /** The primary domains of every stored certificate. */
  async listCertificates(): Promise<string[]> {
    try {
      const names = await readdir(join(this.root, "certificates"));
      return names.map((name) => name.replace(/^wildcard_\./, "*.")).sort();
    } catch {
      return [];
    }
  }

  /**
   * Takes the lock of `name` (`"account"` for the account), shared with other processes.
   *
   * @param name A certificate's primary domain, or `"account"`.
   * @param options Staleness, wait and cancellation.
   * @returns The held lock.
   * @throws {LockTimeoutError} If another process holds it for too long.
   */
  async lock(name: string, options?: FileLockOptions): Promise<FileLock> {
    const folder = join(this.root, "locks");
    await mkdir(folder, { recursive: true, mode: 0o700 });
    return await acquireFileLock(join(folder, `${certFolder(name)}.lock`), options);
  }

  async #write(folder: string, file: string, text: string): Promise<void> {
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const temporary = join(folder, `.${file}.${crypto.randomUUID()}.tmp`);
    try {
      await writeFile(temporary, text, { mode: 0o600 });
      await chmod(temporary, 0o600); // the umask may have narrowed it, never widened; be exact
      await rename(temporary, join(folder, file));
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
