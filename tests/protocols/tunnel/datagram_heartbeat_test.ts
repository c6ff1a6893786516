import assert from "node:assert/strict";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { randomBytes, roundTrip, sameBytes, startEchoServer } from "../../_util/echo_server.ts";
import {
  decodeHeartbeatDatagram,
  encodeHeartbeatDatagram,
  HEARTBEAT_DATAGRAM_BYTES,
} from "../../../protocols/tunnel/_session_heartbeat.ts";
import type { QuicConnectionLike, QuicListenerLike } from "../../../protocols/tunnel/quic_transport.ts";
import { makeClient, QUIC_TRANSPORT, startServer, type TransportFixture } from "./_tunnel_util.ts";

const FAST = { heartbeatMs: 50, heartbeatMisses: 3 };

/** `conn` with some members replaced. */
function wrapConn(conn: QuicConnectionLike, replace: Partial<Record<keyof QuicConnectionLike, unknown>>) {
  return new Proxy(conn, {
    get(target, prop) {
      if (prop in replace) return replace[prop as keyof QuicConnectionLike];
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as QuicConnectionLike;
}

/** Without RFC 9221 datagrams: what an old runtime (or a peer that did not negotiate them) offers. */
const withoutDatagrams = (conn: QuicConnectionLike) =>
  wrapConn(conn, { maxDatagramSize: 0, sendDatagram: undefined, readDatagram: undefined });

/** QUIC whose client connections are passed through `wrap` (the n-th connection, from 0). */
function clientWrapped(wrap: (conn: QuicConnectionLike, n: number) => QuicConnectionLike): TransportFixture {
  let count = 0;
  return {
    ...QUIC_TRANSPORT,
    async clientQuic() {
      const connect = await QUIC_TRANSPORT.clientQuic!();
      return async (addr, options) => wrap(await connect(addr, options), count++);
    },
  };
}

/** QUIC whose server connections have no datagrams. */
const SERVER_WITHOUT_DATAGRAMS: TransportFixture = {
  ...QUIC_TRANSPORT,
  async serverQuic() {
    const listen = await QUIC_TRANSPORT.serverQuic!();
    return async (addr) => {
      const listener = await listen(addr);
      return {
        get addr() {
          return listener.addr;
        },
        close: () => listener.close(),
        async *[Symbol.asyncIterator]() {
          for await (const incoming of listener) {
            const handshake = async (o: Parameters<typeof incoming.handshake>[0]) =>
              withoutDatagrams(await incoming.handshake(o));
            yield new Proxy(incoming, {
              get: (target, prop) => {
                if (prop === "handshake") return handshake;
                const value = Reflect.get(target, prop);
                return typeof value === "function" ? value.bind(target) : value;
              },
            });
          }
        },
      } as QuicListenerLike;
    };
  },
};

test("heartbeat datagrams: exact encoding, and anything else decodes to nothing", () => {
  const ping = encodeHeartbeatDatagram("ping", 0xdeadbeef, 7);
  assert.deepEqual([...ping], [1, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7]);
  assert.deepEqual(decodeHeartbeatDatagram(ping), { type: "ping", seq: 0xdeadbeef, tag: 7 });
  assert.deepEqual(decodeHeartbeatDatagram(encodeHeartbeatDatagram("pong", 1, 0xffffffff)), {
    type: "pong",
    seq: 1,
    tag: 0xffffffff,
  });
  for (const size of [0, 1, HEARTBEAT_DATAGRAM_BYTES - 1, HEARTBEAT_DATAGRAM_BYTES + 1, 1200]) {
    assert.equal(decodeHeartbeatDatagram(new Uint8Array(size).fill(1)), undefined, `size ${size}`);
  }
  for (const type of [0, 3, 255]) {
    const data = encodeHeartbeatDatagram("ping", 1, 1);
    data[0] = type;
    assert.equal(decodeHeartbeatDatagram(data), undefined, `type ${type}`);
  }
  // Random datagrams (bounded): never a throw; only 9 bytes of type 1 or 2 decode.
  for (let i = 0; i < 2_000; i++) {
    const data = crypto.getRandomValues(new Uint8Array(i % 24));
    const decoded = decodeHeartbeatDatagram(data);
    const valid = data.byteLength === HEARTBEAT_DATAGRAM_BYTES && (data[0] === 1 || data[0] === 2);
    assert.equal(decoded !== undefined, valid);
  }
  // A view into a larger buffer decodes from its own offset.
  const big = new Uint8Array(20);
  big.set(encodeHeartbeatDatagram("pong", 42, 9), 5);
  assert.deepEqual(decodeHeartbeatDatagram(big.subarray(5, 14)), { type: "pong", seq: 42, tag: 9 });
});

test("reverse tunnel over quic: heartbeats flow as QUIC datagrams on both sides", async () => {
  await using echo = await startEchoServer();
  const paths: string[] = [];
  await using server = await startServer(QUIC_TRANSPORT, FAST, {
    onClientConnected: (_id, _addr, info) => paths.push(`server: ${info.heartbeats}`),
  });
  await using client = await makeClient(QUIC_TRANSPORT, server.addr!.port, {
    services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
  }, { onConnected: (info) => paths.push(`client: ${info.heartbeats}`) });
  await client.start();
  await waitFor(() => (client.heartbeats?.pongsReceived ?? 0) >= 3, "3 datagram pongs at the client");
  await waitFor(() => (server.clients()[0]?.heartbeats?.pongsReceived ?? 0) >= 3, "3 datagram pongs at the server");
  assert.deepEqual(paths.sort(), ["client: datagram", "server: datagram"]);
  const ours = client.heartbeats!;
  assert.equal(ours.path, "datagram");
  assert.ok(ours.pingsAnswered >= 1, "the client answered the server's datagram pings");
  assert.equal(ours.garbage, 0);
  assert.equal(server.clients()[0].heartbeats!.path, "datagram");
  const payload = randomBytes(256 * 1024);
  assert.ok(sameBytes(await roundTrip(client.services()[0].remotePort!, payload), payload));
});

test("reverse tunnel over quic: a server that stops answering datagram pings ends the session, and the client reconnects", async () => {
  await using echo = await startEchoServer();
  // 100 ms: a pong delayed past the next ping by a busy machine must not add a second miss.
  await using server = await startServer(QUIC_TRANSPORT, { heartbeatMs: 100, heartbeatMisses: 3 });
  let dropping: "none" | "every other" | "all" = "none";
  let pongs = 0;
  // The first connection loses PONGs as `dropping` says (the control stream stays healthy, so only
  // datagram heartbeats can notice); later connections are untouched.
  const transport = clientWrapped((conn, n) =>
    n > 0 ? conn : wrapConn(conn, {
      async readDatagram(options?: { signal?: AbortSignal }) {
        for (;;) {
          const data = await conn.readDatagram!(options);
          const lost = data[0] === 2 && (dropping === "all" || (dropping === "every other" && pongs++ % 2 === 0));
          if (!lost) return data;
        }
      },
    })
  );
  const events: string[] = [];
  await using client = await makeClient(transport, server.addr!.port, {
    services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
  }, {
    onConnected: (info) => events.push(`${info.resumed ? "resumed" : "new"} ${info.heartbeats}`),
    onDisconnected: (reason) => events.push(`down: ${reason}`),
  });
  await client.start();
  await waitFor(() => (client.heartbeats?.pongsReceived ?? 0) >= 1, "a first pong");
  // One loss in a row never reaches the 3-miss rule: the session stays up.
  dropping = "every other";
  await waitFor(() => pongs >= 16, "16 pongs, every other one lost");
  assert.deepEqual(events, ["new datagram"]);
  dropping = "all";
  await waitFor(() => events.some((e) => e.startsWith("down: ")), "the client to notice");
  assert.ok(events.includes("down: 3 heartbeats went unanswered"), events.join("; "));
  await waitFor(() => events.length >= 3, "a reconnect");
  assert.equal(events[2], "resumed datagram", events.join("; "));
  await waitFor(() => (client.heartbeats?.pongsReceived ?? 0) >= 1, "pongs on the new session");
  const payload = randomBytes(64 * 1024);
  assert.ok(sameBytes(await roundTrip(client.services()[0].remotePort!, payload), payload));
});

for (
  const [side, serverTransport, clientTransport] of [
    ["client", QUIC_TRANSPORT, clientWrapped(withoutDatagrams)],
    ["server", SERVER_WITHOUT_DATAGRAMS, QUIC_TRANSPORT],
  ] as const
) {
  test(`reverse tunnel over quic: a ${side} without datagrams keeps control-stream heartbeats`, async () => {
    await using echo = await startEchoServer();
    await using server = await startServer(serverTransport, FAST);
    await using client = await makeClient(clientTransport, server.addr!.port, {
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    });
    await client.start();
    await waitFor(() => (client.heartbeats?.pongsReceived ?? 0) >= 3, "3 control pongs at the client");
    await waitFor(() => (server.clients()[0]?.heartbeats?.pongsReceived ?? 0) >= 3, "3 control pongs at the server");
    assert.equal(client.heartbeats!.path, "control");
    assert.equal(server.clients()[0].heartbeats!.path, "control");
    assert.equal(client.transport, "quic");
    const payload = randomBytes(64 * 1024);
    assert.ok(sameBytes(await roundTrip(client.services()[0].remotePort!, payload), payload));
  });
}

test("reverse tunnel over quic: garbage datagrams are ignored and counted; the session stays up", async () => {
  await using server = await startServer(QUIC_TRANSPORT, FAST);
  let raw: QuicConnectionLike | undefined;
  const transport = clientWrapped((conn) => raw = conn);
  const events: string[] = [];
  await using client = await makeClient(transport, server.addr!.port, {
    services: [{ name: "x", localAddr: "127.0.0.1:1" }],
  }, {
    onDisconnected: (reason) => events.push(reason),
  });
  await client.start();
  await waitFor(() => server.clients()[0]?.heartbeats, "the server's session");
  const garbage = [
    new Uint8Array([0xff]),
    new Uint8Array(HEARTBEAT_DATAGRAM_BYTES - 1).fill(1),
    new Uint8Array(HEARTBEAT_DATAGRAM_BYTES + 1).fill(1),
    new Uint8Array(1000).fill(0xaa),
    encodeHeartbeatDatagram("pong", 1, 12345), // a pong with a tag the server never sent (1 in 2^32 to collide)
    encodeHeartbeatDatagram("pong", 0xfffffff0, 0), // a pong for a ping never sent
  ];
  // Datagrams may be lost, even on loopback: send rounds until the counter moved, bounded.
  for (let round = 0; round < 50 && server.clients()[0].heartbeats!.garbage < garbage.length; round++) {
    for (const data of garbage) await raw!.sendDatagram!(data);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(server.clients()[0].heartbeats!.garbage >= garbage.length, "garbage counted");
  const pongs = server.clients()[0].heartbeats!.pongsReceived;
  await waitFor(() => server.clients()[0].heartbeats!.pongsReceived >= pongs + 3, "heartbeats go on");
  assert.equal(server.clients()[0].connected, true);
  assert.deepEqual(events, []);
});
