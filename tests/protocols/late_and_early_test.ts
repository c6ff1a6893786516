import assert from "node:assert/strict";
import net from "node:net";
import { closeIfLate } from "../../protocols/_abort.ts";
import { TcpProtocol } from "../../protocols/tcp.ts";
import type { TcpConn } from "../../protocols/types.ts";
import { test } from "../_util/test.ts";
import { sleep } from "../_util/wait.ts";

const tcp = new TcpProtocol();

/** A resource that records whether it was closed. */
function resource(name: string): { name: string; closed: boolean; close(): void } {
  return {
    name,
    closed: false,
    close() {
      this.closed = true;
    },
  };
}

test("closeIfLate() resolves with the value, or rejects with a TimeoutError naming the deadline and closes the late value", async () => {
  const early = resource("early");
  assert.equal(await closeIfLate(Promise.resolve(early), { timeoutMs: 1_000 }), early);
  assert.equal(early.closed, false);

  const late = resource("late");
  const { promise, resolve } = Promise.withResolvers<typeof late>();
  await assert.rejects(closeIfLate(promise, { timeoutMs: 20 }), (error: Error) => {
    assert.equal(error.name, "TimeoutError");
    assert.equal(error.message, "Timed out after 20 ms");
    return true;
  });
  resolve(late);
  await sleep(0);
  assert.equal(late.closed, true, "a value that comes after the deadline is closed");

  const failure = new Error("refused");
  await assert.rejects(closeIfLate(Promise.reject(failure), { timeoutMs: 1_000 }), (e) => e === failure);
});

test("closeIfLate() deadlines of one length share a timer: early settles leave, the rest expire in order", async () => {
  const settled: string[] = [];
  const calls = [];
  const resolvers: ((value: ReturnType<typeof resource>) => void)[] = [];
  for (let i = 0; i < 6; i++) {
    const { promise, resolve } = Promise.withResolvers<ReturnType<typeof resource>>();
    resolvers.push(resolve);
    calls.push(
      closeIfLate(promise, { timeoutMs: 40 + (i % 2) * 20 }).then(
        (value) => settled.push(`${i}:${value.name}`),
        (error: Error) => settled.push(`${i}:${error.message}`),
      ),
    );
  }
  resolvers[0](resource("a"));
  resolvers[3](resource("b"));
  await Promise.all(calls);
  assert.deepEqual(settled.slice(0, 2), ["0:a", "3:b"]);
  assert.deepEqual(settled.slice(2).sort(), [
    "1:Timed out after 60 ms",
    "2:Timed out after 40 ms",
    "4:Timed out after 40 ms",
    "5:Timed out after 60 ms",
  ]);
  // The 40 ms deadlines expire before the 60 ms ones.
  assert.ok(settled.indexOf("2:Timed out after 40 ms") < settled.indexOf("1:Timed out after 60 ms"));
});

test("closeIfLate() rejects with the signal's reason and closes what arrives after the abort", async () => {
  const controller = new AbortController();
  const reason = new Error("stopped");
  const { promise, resolve } = Promise.withResolvers<ReturnType<typeof resource>>();
  const racing = closeIfLate(promise, { signal: controller.signal, timeoutMs: 5_000 });
  controller.abort(reason);
  await assert.rejects(racing, (e) => e === reason);
  const late = resource("late");
  resolve(late);
  await sleep(0);
  assert.equal(late.closed, true);
  const already = resource("already");
  await assert.rejects(closeIfLate(Promise.resolve(already), { signal: controller.signal }), (e) => e === reason);
  await sleep(0);
  assert.equal(already.closed, true);
});

async function readSome(conn: TcpConn, bytes: number): Promise<string> {
  const reader = conn.readable.getReader();
  let text = "";
  for (let i = 0; i < 100 && text.length < bytes; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text;
}

test("a conn read only after some event-loop turns still gets every byte the peer sent first (accept and dial)", async () => {
  // A node:net server that speaks first, and a node:net client that writes as soon as it connects.
  const server = net.createServer((socket) => socket.end("banner from the server"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const serverPort = (server.address() as net.AddressInfo).port;
  await using listener = await tcp.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const dialed = await tcp.dial({ hostname: "127.0.0.1", port: serverPort });
    const client = net.connect(listener.addr.port, "127.0.0.1", () => client.end("hello from the client"));
    const iterator = listener[Symbol.asyncIterator]();
    const accepted = await (await iterator.next()).value!.handshake({ signal: AbortSignal.timeout(5_000) });
    await sleep(50); // several turns: the bytes are there before anyone reads
    assert.equal(await readSome(accepted, 21), "hello from the client");
    assert.equal(await readSome(dialed, 22), "banner from the server");
    // The addresses the adapters fill in without asking the kernel match the peer's view.
    assert.deepEqual(
      { hostname: accepted.remoteAddr.hostname, port: accepted.remoteAddr.port },
      { hostname: client.localAddress, port: client.localPort },
    );
    assert.deepEqual(
      { hostname: accepted.localAddr.hostname, port: accepted.localAddr.port },
      { hostname: "127.0.0.1", port: listener.addr.port },
    );
    assert.deepEqual({ hostname: dialed.remoteAddr.hostname, port: dialed.remoteAddr.port }, {
      hostname: "127.0.0.1",
      port: serverPort,
    });
    accepted.close();
    dialed.close();
    client.destroy();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test("closeIfLate() with Infinity or more than a timer's limit (2^31 - 1 ms) sets no deadline", async () => {
  for (const timeoutMs of [Infinity, 2 ** 31]) {
    const value = resource(`no deadline ${timeoutMs}`);
    const { promise, resolve } = Promise.withResolvers<typeof value>();
    const racing = closeIfLate(promise, { timeoutMs });
    await sleep(30); // an overflowing timer would have fired by now
    resolve(value);
    assert.equal(await racing, value);
    assert.equal(value.closed, false);
  }
});
