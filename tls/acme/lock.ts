/**
 * {@linkcode acquireFileLock}: a lock between processes that share a storage directory, so two
 * of them never order the same certificate at once. The lock is a file created with `O_EXCL`;
 * its holder refreshes its modification time while it works, and a lock left untouched for
 * `staleMs` (its holder died) is taken over.
 * @module
 */
import { link, open, rename, rm, stat, utimes } from "node:fs/promises";
import process from "node:process";
import { delay } from "../../ha/_abort.ts";
import { LockTimeoutError } from "./errors.ts";

/** Default age after which an untouched lock is considered abandoned, in milliseconds. */
export const DEFAULT_LOCK_STALE_MS = 60_000;
/** Default time {@linkcode acquireFileLock} waits for a held lock, in milliseconds. */
export const DEFAULT_LOCK_TIMEOUT_MS = 300_000;
/** Default time between two attempts to take a held lock, in milliseconds. */
export const DEFAULT_LOCK_POLL_MS = 250;

/** Options for {@linkcode acquireFileLock}. */
export interface FileLockOptions {
  /** Age (time since its holder last refreshed it) after which a lock is taken over. @default {60_000} */
  staleMs?: number;
  /** How long to wait for a held lock before failing. @default {300_000} */
  timeoutMs?: number;
  /** Time between two attempts. @default {250} */
  pollMs?: number;
  /** Aborting stops the wait and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A held lock; releasing (or disposing) it removes the file. */
export interface FileLock extends AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  /** Stops refreshing and removes the file; idempotent. */
  release(): Promise<void>;
}

function isCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown })?.code === code;
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const handle = await open(path, "wx", 0o600);
    try {
      await handle.writeFile(JSON.stringify({ pid: process.pid, at: new Date().toISOString() }));
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if (isCode(error, "EEXIST")) return false;
    throw error;
  }
}

/**
 * Removes `path` if it is older than `staleMs`. The lock is moved aside first (a rename is atomic),
 * and if what was moved is not the stale file seen (another taker replaced it in between), it is
 * put back.
 */
async function breakIfStale(path: string, staleMs: number): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if (isCode(error, "ENOENT")) return;
    throw error;
  }
  if (Date.now() - info.mtimeMs <= staleMs) return;
  const aside = `${path}.stale-${crypto.randomUUID()}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (isCode(error, "ENOENT")) return; // someone else took it over first
    throw error;
  }
  const moved = await stat(aside).catch(() => undefined);
  if (moved && moved.ino !== info.ino) await link(aside, path).catch(() => {}); // EEXIST: a third taker holds it
  await rm(aside, { force: true });
}

/**
 * Takes the lock file at `path`, waiting while another process holds it. While held, the file's
 * modification time is refreshed every `staleMs / 4`, so a long issuance is not mistaken for an
 * abandoned lock.
 *
 * @example Issue under the lock
 * ```ts ignore
 * import { acquireFileLock } from "@ts-tunnel/tunnel/tls";
 * await using _lock = await acquireFileLock("/var/lib/ts-tunnel/acme/locks/example.com.lock");
 * // … check storage again, then order the certificate …
 * ```
 * @param path The lock file; its directory must exist.
 * @param options Staleness, wait and cancellation.
 * @returns The held lock.
 * @throws {LockTimeoutError} If the lock stays held and fresh for `timeoutMs`.
 * @throws {RangeError} If an option is not positive.
 */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<FileLock> {
  const {
    staleMs = DEFAULT_LOCK_STALE_MS,
    timeoutMs = DEFAULT_LOCK_TIMEOUT_MS,
    pollMs = DEFAULT_LOCK_POLL_MS,
    signal,
  } = options;
  for (const [name, value] of [["staleMs", staleMs], ["pollMs", pollMs]] as const) {
    if (!(value > 0)) throw new RangeError(`Cannot lock as '${name}' must be positive: current value is ${value}`);
  }
  if (!(timeoutMs >= 0)) {
    throw new RangeError(`Cannot lock as 'timeoutMs' must be >= 0: current value is ${timeoutMs}`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    if (await tryCreate(path)) break;
    await breakIfStale(path, staleMs);
    if (await tryCreate(path)) break;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new LockTimeoutError(path, timeoutMs);
    await delay(Math.min(pollMs, remaining), signal);
  }
  const refresh = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, Math.max(1, Math.floor(staleMs / 4)));
  let released: Promise<void> | undefined;
  const release = () =>
    released ??= (async () => {
      clearInterval(refresh);
      await rm(path, { force: true });
    })();
  return { path, release, [Symbol.asyncDispose]: release };
}
