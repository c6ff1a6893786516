/**
 * Fixtures for the FFI tests: the loaded bindings (the suite needs them: run with -A on Linux) and
 * a connected loopback pair made by our own TcpProtocol.
 * @module
 */
import { readFileSync } from "node:fs";
import { loadLibc } from "../../ffi/load.ts";
import { libcUnavailableReason } from "../../ffi/load.ts";
import type { Libc } from "../../ffi/libc.ts";
import { TcpProtocol } from "../../protocols/tcp.ts";
import type { ListenAddr, Listener, TcpConn } from "../../protocols/types.ts";

/** The bindings; the FFI suite fails at once, with the reason, when they cannot be loaded. */
export async function libcOrFail(): Promise<Libc> {
  const libc = await loadLibc();
  if (!libc) throw new Error(`The FFI tests need libc through FFI: ${libcUnavailableReason()}`);
  return libc;
}

/** A listener and both ends of one connection to it. */
export interface TcpPair extends AsyncDisposable {
  readonly listener: Listener<TcpConn>;
  /** The dialing end. */
  readonly client: TcpConn;
  /** The accepted end. */
  readonly server: TcpConn;
}

const tcp = new TcpProtocol();

/** Listens on `listenAddr` (127.0.0.1:0 by default), dials it at `dialHost`, and accepts. */
export async function tcpPair(
  listenAddr: ListenAddr = { hostname: "127.0.0.1", port: 0 },
  dialHost = "127.0.0.1",
): Promise<TcpPair> {
  const listener = await tcp.listen(listenAddr);
  try {
    const accepted = (async () => {
      for await (const incoming of listener) return await incoming.handshake({ timeoutMs: 5_000 });
      throw new Error("listener ended before accepting");
    })();
    const client = await tcp.dial({ hostname: dialHost, port: listener.addr.port }, { timeoutMs: 5_000 });
    const server = await accepted;
    return {
      listener,
      client,
      server,
      [Symbol.asyncDispose]() {
        client.close();
        server.close();
        listener.close();
        return Promise.resolve();
      },
    };
  } catch (error) {
    listener.close();
    throw error;
  }
}

/** Reads an integer sysctl, like `net/core/wmem_max`. */
export function sysctl(path: string): number {
  return Number(readFileSync(`/proc/sys/${path}`, "utf8").trim().split(/\s+/)[0]);
}
