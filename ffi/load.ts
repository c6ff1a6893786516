/**
 * Loads the {@linkcode Libc} bindings for the running runtime, lazily and at most once.
 * @module
 */
import type { Libc } from "./libc.ts";

let loading: Promise<Libc | undefined> | undefined;
let unavailable: string | undefined;

async function load(): Promise<Libc | undefined> {
  let opened: { libc: Libc } | { reason: string };
  try {
    if ("Bun" in globalThis) opened = await (await import("./_bun.ts")).openLibc();
    else if ("Deno" in globalThis) opened = await (await import("./_deno.ts")).openLibc();
    else opened = { reason: "the FFI fast path needs Deno or Bun" };
  } catch (error) { // an adapter bug or an unexpected runtime: report it as unavailability
    opened = { reason: `Cannot load the FFI adapter: ${error instanceof Error ? error.message : String(error)}` };
  }
  if ("reason" in opened) {
    unavailable = opened.reason;
    return undefined;
  }
  return opened.libc;
}

/**
 * Resolves to the libc bindings, or to `undefined` when they cannot be had: not on Linux, no FFI
 * permission (Deno without `--allow-ffi`; checked with a permission query, never a prompt), or
 * `dlopen("libc.so.6")` failed. {@linkcode libcUnavailableReason} then says why. Loads only the
 * adapter for the running runtime, on first call; the outcome is kept for the life of the
 * process (a Worker loads its own, which it needs anyway: `errno` is per thread).
 *
 * @example Check for the fast path
 * ```ts ignore
 * import { libcUnavailableReason, loadLibc } from "@ts-tunnel/tunnel/ffi";
 * const libc = await loadLibc();
 * if (!libc) console.log(`no fast path: ${libcUnavailableReason()}`);
 * ```
 * @returns The bindings, or `undefined`. Never rejects.
 */
export function loadLibc(): Promise<Libc | undefined> {
  return loading ??= load();
}

/**
 * Why {@linkcode loadLibc} resolved to `undefined` (for example `"FFI permission not granted: run
 * Deno with --allow-ffi"`), or `undefined` while it has not been tried or when it succeeded.
 *
 * @returns The reason, or `undefined`.
 */
export function libcUnavailableReason(): string | undefined {
  return unavailable;
}
