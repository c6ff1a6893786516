/**
 * Run by splice_path_test.ts in a Deno subprocess *without* FFI: prints what splicePath does then,
 * and whether the declined pair still forwards through the pumps.
 * @module
 */
import { splicePath } from "../../ffi/mod.ts";
import { forward } from "../../forward/engine.ts";
import { tcpPair } from "./_util.ts";
import { pumpOptions } from "./_splice_util.ts";

await using left = await tcpPair();
await using right = await tcpPair();
const result = await splicePath.tryForward(left.server, right.client, pumpOptions());
const forwarding = forward(left.server, right.client);
const writer = left.client.writable.getWriter();
await writer.write(new TextEncoder().encode("ping"));
const reader = right.server.readable.getReader();
const forwarded = new TextDecoder().decode((await reader.read()).value);
reader.releaseLock();
writer.releaseLock();
left.client.close();
right.server.close();
await forwarding.catch(() => {});
// deno-lint-ignore no-console
console.log(JSON.stringify({ ...result, forwarded }));
