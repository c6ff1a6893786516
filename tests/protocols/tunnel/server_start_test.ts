/**
 * TunnelServer.start with transport quic and port 0: QUIC takes the TCP listener's port number
 * over UDP; when another socket holds that UDP port, the server picks another port pair instead
 * of failing, and a fixed port that is taken still fails with the bind error.
 */
import assert from "node:assert/strict";
import { NetError } from "../../../protocols/errors.ts";
import type { ListenAddr } from "../../../protocols/types.ts";
import type { QuicListen } from "../../../protocols/tunnel/quic_transport.ts";
import { TunnelServer } from "../../../protocols/tunnel/server.ts";
import { test } from "../../_util/test.ts";
import { portRange, QUIC_TRANSPORT, TOKEN } from "./_tunnel_util.ts";

/** The fixture's QUIC listen, failing with EADDRINUSE for the first `taken` ports it is asked for. */
async function quicTakenFirst(taken: number, asked: number[]): Promise<QuicListen> {
  const real = (await QUIC_TRANSPORT.serverQuic!())!;
  return (addr: ListenAddr) => {
    asked.push(addr.port);
    if (asked.length <= taken) {
      return Promise.reject(
        new NetError("EADDRINUSE", `Cannot listen on "127.0.0.1:${addr.port}" over quic: address already in use`, {
          op: "listen",
          protocol: "quic",
        }),
      );
    }
    return real(addr);
  };
}

function server(
  listenAddr: string,
  quic: QuicListen,
  protocol: Awaited<ReturnType<typeof QUIC_TRANSPORT.serverProtocol>>,
) {
  return new TunnelServer({
    listenAddr,
    transport: "quic",
    tokens: { alice: TOKEN },
    bindHost: "127.0.0.1",
    portRange: portRange().text,
  }, { protocol, quic });
}

test("a quic server on port 0 whose TCP port is taken on UDP picks another port pair", async () => {
  const asked: number[] = [];
  const tunnel = server("127.0.0.1:0", await quicTakenFirst(2, asked), await QUIC_TRANSPORT.serverProtocol());
  await tunnel.start();
  try {
    assert.equal(asked.length, 3, "two taken ports, then one that binds");
    assert.equal(tunnel.quicAddr?.port, tunnel.addr?.port, "QUIC and TLS share the port number");
    assert.equal(tunnel.addr?.port, asked[2]);
  } finally {
    await tunnel.stop();
  }
});

test("a quic server whose port stays taken on UDP fails with the bind error: port 0 after 8 tries, a fixed port at once", async () => {
  const asked: number[] = [];
  const picked = server("127.0.0.1:0", await quicTakenFirst(100, asked), await QUIC_TRANSPORT.serverProtocol());
  await assert.rejects(
    () => picked.start(),
    (error: unknown) => error instanceof NetError && error.code === "EADDRINUSE",
  );
  assert.equal(asked.length, 8);
  assert.equal(picked.addr, undefined);
  const fixedPort = asked[7]; // free on TCP again, most likely: its listener was closed
  const fixedAsked: number[] = [];
  const fixed = server(
    `127.0.0.1:${fixedPort}`,
    await quicTakenFirst(100, fixedAsked),
    await QUIC_TRANSPORT.serverProtocol(),
  );
  await assert.rejects(
    () => fixed.start(),
    (error: unknown) => error instanceof NetError && error.code === "EADDRINUSE",
  );
  // Once, or not at all when a parallel test took the port on TCP in the meantime (the TCP bind fails first).
  assert.ok(fixedAsked.length <= 1 && fixedAsked.every((port) => port === fixedPort), `tried ${fixedAsked}`);
});
