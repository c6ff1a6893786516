/**
 * Run as a separate process by lock_test.ts: one AutoManager on the folder given, waits for its
 * certificate and prints `started`, then `{"serial": …, "ordered": n}` on stdout.
 * @module
 */
import process from "node:process";
import { AutoManager, type AutoManagerOptions } from "../../../tls/mod.ts";

const { domain, ...options } = JSON.parse(process.argv[process.argv.length - 1]) as AutoManagerOptions & {
  domain: string;
};
let ordered = 0;
const manager = new AutoManager({ ...options, observer: { onIssued: () => void ordered++ } });
try {
  await manager.addDomains([domain]);
  await manager.start();
  process.stdout.write("started\n"); // its order is under way: the parent starts now, to contend
  const info = await manager.ready(domain, { signal: AbortSignal.timeout(30_000) });
  process.stdout.write(`${JSON.stringify({ serial: info.serialNumber, ordered })}\n`);
} finally {
  await manager.close();
}
