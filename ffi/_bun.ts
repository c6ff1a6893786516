/**
 * Internal: libc through `bun:ffi`. One of the few files allowed to use `Bun.*`; loaded only on
 * Bun, by `load.ts`. `bun:ffi` is imported dynamically (Deno defers resolving a dynamic import
 * until it runs, which it never does here) and declared by shape (no bun-types).
 * @module
 */
import process from "node:process";
import { createLibc, LIBC_PATH, type LibcSymbols, type NativeType, SYMBOLS } from "./_bindings.ts";
import type { Libc } from "./libc.ts";

/** The part of `bun:ffi` we use. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: readonly string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown>; close(): void };
  /** An ArrayBuffer over native memory at `pointer` (no copy). */
  toArrayBuffer(pointer: number, byteOffset: number, byteLength: number): ArrayBuffer;
}

const BUN_TYPES: Record<NativeType, string> = {
  i32: "i32",
  u32: "u32",
  usize: "usize",
  buffer: "ptr", // Bun passes a TypedArray's address for `ptr`
  pointer: "ptr",
};

const ARCH: Record<string, string> = { x64: "x86_64", arm64: "aarch64" };

/**
 * Opens libc, or explains why it cannot: not Linux, or `dlopen` failed. Never throws.
 * Bun's FFI is synchronous only, so the returned {@linkcode Libc} has no `epollWaitAsync`.
 */
export async function openLibc(): Promise<{ libc: Libc } | { reason: string }> {
  if (process.platform !== "linux") return { reason: `the FFI fast path needs Linux, and this is ${process.platform}` };
  let symbols: LibcSymbols & { __errno_location(): number | null };
  let ffi: BunFfi;
  try {
    ffi = (await import("bun:ffi")) as BunFfi; // Deno never runs this file
    const table: Record<string, { args: string[]; returns: string }> = {};
    for (const [name, spec] of Object.entries(SYMBOLS)) {
      table[name] = { args: spec.parameters.map((t) => BUN_TYPES[t]), returns: BUN_TYPES[spec.result] };
    }
    symbols = ffi.dlopen(LIBC_PATH, table).symbols as unknown as typeof symbols;
  } catch (error) {
    return { reason: `Cannot load ${LIBC_PATH}: ${error instanceof Error ? error.message : String(error)}` };
  }
  const errnoAt = symbols.__errno_location();
  if (!errnoAt) return { reason: "__errno_location() returned NULL" };
  const libc = createLibc(symbols, {
    runtime: "bun",
    arch: ARCH[process.arch] ?? process.arch,
    errnoCell: new Int32Array(ffi.toArrayBuffer(errnoAt, 0, 4)),
  });
  return { libc };
}
