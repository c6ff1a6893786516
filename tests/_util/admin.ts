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

/** Starts `main` with an admin server; resolves to the ports and a stop function. */
export async function startWithAdmin(args: string[]) {
  const io = captureIo();
  const stop = new AbortController();
  const exit = main([...args, "-admin", "127.0.0.1:0", "-status", "off"], { io, signal: stop.signal });
  const adminPort = await waitFor(
    () => Number(/admin listening addr=127\.0\.0\.1:(\d+)/.exec(io.err)?.[1]) || undefined,
    "the admin line",
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
