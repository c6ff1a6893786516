/** Runs the CLI's main() with an admin server on a free loopback port. @module */
import { type CliIo, main } from "../../cli.ts";
import { waitFor } from "./wait.ts";

/** Captures what main() prints. */
export function captureIo(): CliIo & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    isTerminal: false,
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => void (io.err += text),
  };
  return io;
}

/**
 * Starts `main` with an admin server; resolves to the ports and a stop function. One accept loop
 * unless `args` ask for `-workers`: breakers and connection rows live in a single event loop, and the
 * CLI's `auto` default would use several on a machine with 4+ cores.
 */
export async function startWithAdmin(args: string[]) {
  const io = captureIo();
  const stop = new AbortController();
  const workers = args.includes("-workers") ? [] : ["-workers", "1"];
  const exit = main([...args, ...workers, "-admin", "127.0.0.1:0", "-status", "off"], { io, signal: stop.signal });
  const adminPort = await waitFor(
    () => Number(/admin listening addr=127\.0\.0\.1:(\d+)/.exec(io.err)?.[1]) || undefined,
    "the admin line",
    30_000, // worker threads (-workers N) start slowly on a busy 2-core machine
  );
  const ports = [...io.err.matchAll(/listening tunnel=.* addr=[\d.]+:(\d+)/g)].map((m) => Number(m[1]));
  return {
    io,
    adminPort,
    ports,
    async stop() {
      stop.abort();
      return await exit;
    },
  };
}
