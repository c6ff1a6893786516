/**
 * Internal: libc through `Deno.dlopen`. One of the few files allowed to use `Deno.*`; loaded only
 * on Deno, by `load.ts`.
 * @module
 */
import { createLibc, LIBC_PATH, type LibcSymbols, type NativeType, SYMBOLS } from "./_bindings.ts";
import type { Libc } from "./libc.ts";

const DENO_TYPES: Record<NativeType, Deno.NativeType> = {
  i32: "i32",
  u32: "u32",
  usize: "usize",
  buffer: "buffer",
  pointer: "pointer",
};

function denoSymbols(): Record<string, Deno.ForeignFunction> {
  const symbols: Record<string, Deno.ForeignFunction> = {};
  for (const [name, spec] of Object.entries(SYMBOLS)) {
    symbols[name] = { parameters: spec.parameters.map((t) => DENO_TYPES[t]), result: DENO_TYPES[spec.result] };
  }
  // The same epoll_wait, run on a runtime thread: the call returns a Promise and the event loop stays free.
  symbols.epoll_wait_nonblocking = {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  };
  return symbols;
}

interface DenoOnly {
  epoll_wait_nonblocking(epfd: number, events: Uint8Array, maxEvents: number, timeoutMs: number): Promise<number>;
  __errno_location(): Deno.PointerValue;
}

/**
 * Opens libc, or explains why it cannot: not Linux, no `--allow-ffi`, or `dlopen` failed.
 * Never throws and never prompts.
 */
export async function openLibc(): Promise<{ libc: Libc } | { reason: string }> {
  if (Deno.build.os !== "linux") return { reason: `the FFI fast path needs Linux, and this is ${Deno.build.os}` };
  const permission = await Deno.permissions.query({ name: "ffi" });
  if (permission.state !== "granted") {
    return { reason: "FFI permission not granted: run Deno with --allow-ffi" };
  }
  let symbols: LibcSymbols & DenoOnly;
  try {
    symbols = Deno.dlopen(LIBC_PATH, denoSymbols()).symbols as unknown as LibcSymbols & DenoOnly;
  } catch (error) {
    return { reason: `Cannot load ${LIBC_PATH}: ${error instanceof Error ? error.message : String(error)}` };
  }
  const errnoAt = symbols.__errno_location();
  if (errnoAt === null) return { reason: "__errno_location() returned NULL" };
  const libc = createLibc(symbols, {
    runtime: "deno",
    arch: Deno.build.arch,
    errnoCell: new Int32Array(Deno.UnsafePointerView.getArrayBuffer(errnoAt, 4)),
    epollWaitAsync: (epfd, events, maxEvents, timeoutMs) =>
      symbols.epoll_wait_nonblocking(epfd, events, maxEvents, timeoutMs),
  });
  return { libc };
}
