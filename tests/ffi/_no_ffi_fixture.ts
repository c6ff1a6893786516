/**
 * Run by load_test.ts in a Deno subprocess *without* --allow-ffi: prints what the public API does then.
 * @module
 */
import { libcUnavailableReason, loadLibc, optimizeTcpConn } from "../../ffi/mod.ts";

const nowhere = { transport: "tcp" as const, hostname: "127.0.0.1", port: 1 };
const libc = await loadLibc();
const optimized = await optimizeTcpConn({ localAddr: nowhere, remoteAddr: nowhere });
// deno-lint-ignore no-console
console.log(JSON.stringify({ loaded: libc !== undefined, reason: libcUnavailableReason() ?? null, optimized }));
