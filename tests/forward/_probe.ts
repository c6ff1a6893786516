/** Test helper: does a held connection still forward? @module */
import type net from "node:net";

/** Sends one byte and resolves true when it comes back (forwarded), false when the tunnel closed the conn. */
export function probe(socket: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    socket.once("data", () => resolve(true));
    socket.once("end", () => resolve(false));
    socket.once("close", () => resolve(false));
    socket.once("error", () => resolve(false));
    socket.write(new Uint8Array([7]));
  });
}
