import assert from "node:assert/strict";
import { NetError } from "../../protocols/errors.ts";
import { TcpProtocol } from "../../protocols/tcp.ts";
import { test } from "../_util/test.ts";
import { closedLoopbackPort, startEchoServer } from "../_util/echo_server.ts";

const tcp = new TcpProtocol();

test("TcpProtocol.dial() rejects with NetError ECONNREFUSED on a closed port", async () => {
  const port = await closedLoopbackPort();
  await assert.rejects(() => tcp.dial({ hostname: "127.0.0.1", port }), (error) => {
    assert.ok(error instanceof NetError);
    assert.equal(error.code, "ECONNREFUSED");
    assert.equal(error.op, "dial");
    assert.equal(error.message, `Cannot dial "127.0.0.1:${port}" over tcp: connection refused`);
    return true;
  });
});

test("TcpProtocol.dial() rejects with ENOTFOUND for a name that does not resolve", async () => {
  await assert.rejects(() => tcp.dial({ hostname: "no-such-host.invalid", port: 80 }), (error) => {
    assert.ok(error instanceof NetError);
    assert.equal(error.code, "ENOTFOUND");
    return true;
  });
});

test("TcpProtocol.dial() passes a cancellation through as the signal's reason", async () => {
  await using echo = await startEchoServer();
  const controller = new AbortController();
  const reason = new Error("cancelled by test");
  controller.abort(reason);
  await assert.rejects(
    () => tcp.dial({ hostname: "127.0.0.1", port: echo.port }, { signal: controller.signal }),
    (e) => e === reason,
  );
});

test("TcpProtocol listens and dials over IPv6 loopback and by host name, with addresses and half-close", async () => {
  for (const [listenHost, dialHost] of [["::1", "::1"], ["127.0.0.1", "localhost"]] as const) {
    await using listener = await tcp.listen({ hostname: listenHost, port: 0 });
    const accepted = (async () => {
      for await (const incoming of listener) return await incoming.handshake();
      throw new Error("listener ended");
    })();
    await using client = await tcp.dial({ hostname: dialHost, port: listener.addr.port });
    await using server = await accepted;
    assert.equal(client.remoteAddr.port, listener.addr.port);
    assert.equal(server.remoteAddr.port, client.localAddr.port);
    const writer = client.writable.getWriter();
    await writer.write(new TextEncoder().encode("ping"));
    await writer.close(); // half-close: the server sees EOF, the client can still read
    const got = await new Response(server.readable).text();
    assert.equal(got, "ping");
    const back = server.writable.getWriter();
    await back.write(new TextEncoder().encode("pong"));
    await back.close();
    assert.equal(await new Response(client.readable).text(), "pong");
  }
});

test("Listener.close() ends the accept loop", async () => {
  const listener = await tcp.listen({ hostname: "127.0.0.1", port: 0 });
  const loop = (async () => {
    let n = 0;
    for await (const _ of listener) n++;
    return n;
  })();
  listener.close();
  listener.close();
  assert.equal(await loop, 0);
});

test('a listener without a host (Go\'s ":port") accepts IPv4 and IPv6 and reports IPv4 peers plainly', async () => {
  await using listener = await tcp.listen({ port: 0 });
  const peers: string[] = [];
  const loop = (async () => {
    for await (const incoming of listener) {
      const conn = await incoming.handshake();
      peers.push(conn.remoteAddr.hostname);
      conn.close();
      if (peers.length === 2) return;
    }
  })();
  for (const hostname of ["127.0.0.1", "::1"]) {
    await using _conn = await tcp.dial({ hostname, port: listener.addr.port });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await loop;
  assert.deepEqual(peers, ["127.0.0.1", "::1"]);
});
