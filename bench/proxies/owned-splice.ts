// The owned-sockets splice forwarder (ffi/owned_splice.ts) as a bench system, on Deno or Bun.
// usage: deno run -A bench/proxies/owned-splice.ts LISTEN_PORT TARGET_PORT   (or: bun bench/proxies/owned-splice.ts …)
// Bench: CMD_owned_deno='deno run -A bench/proxies/owned-splice.ts {LISTEN} {TARGET}' bash bench/run.sh --systems "… owned-deno"
// Stops on SIGTERM/SIGINT (drains for up to 2 s).
import process from "node:process";
import { listenOwnedSplice } from "../../ffi/owned_splice.ts";

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
const forwarder = await listenOwnedSplice({
  hostname: "127.0.0.1",
  port: listenPort,
  target: { hostname: "127.0.0.1", port: targetPort },
  maxConnections: 8192,
});
const stop = () => forwarder.shutdown({ signal: AbortSignal.timeout(2000) }).then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
