import assert from "node:assert/strict";
import { ConnPool } from "../../ha/conn_pool.ts";
import { TcpProtocol } from "../../protocols/tcp.ts";
import type { Conn } from "../../protocols/types.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import { closedLoopbackPort, startEchoServer } from "../_util/echo_server.ts";

const tcp = new TcpProtocol();

test("ConnPool pre-dials, hands each warm connection out once, and refills", async () => {
  await using echo = await startEchoServer();
  using pool = new ConnPool({
    dial: (signal) => tcp.dial({ hostname: "127.0.0.1", port: echo.port }, { signal }),
    minIdle: 3,
  });
  await waitFor(() => pool.stats().idle === 3, "the pool to fill");
  assert.equal(echo.connections, 3);
  const taken = new Set<Conn>();
  for (let i = 0; i < 5; i++) {
    const conn = await pool.get();
    assert.ok(!taken.has(conn), "a connection was handed out twice");
    taken.add(conn);
  }
  await waitFor(() => pool.stats().idle === 3, "the pool to refill");
  const stats = pool.stats();
  assert.ok(stats.reused >= 3, `reused ${stats.reused}`);
  assert.equal(stats.reused + stats.missed, 5);
  // A warm connection works: it is a fresh TCP connection to the target.
  const conn = await pool.get();
  const writer = conn.writable.getWriter();
  await writer.write(new TextEncoder().encode("warm"));
  await writer.close();
  assert.equal(await new Response(conn.readable).text(), "warm");
  for (const c of [...taken, conn]) c.close();
});

test("ConnPool discards warm connections that are too old or not alive", async () => {
  await using echo = await startEchoServer();
  let now = 0;
  let alive = true;
  using pool = new ConnPool({
    dial: (signal) => tcp.dial({ hostname: "127.0.0.1", port: echo.port }, { signal }),
    minIdle: 2,
    maxAgeMs: 1_000,
    isAlive: () => alive,
    now: () => now,
  });
  await waitFor(() => pool.stats().idle === 2, "the pool to fill");
  now = 5_000; // both are too old now
  const fresh = pool.tryTake();
  assert.equal(fresh, undefined);
  assert.equal(pool.stats().discarded, 2);
  await waitFor(() => pool.stats().idle === 2, "the pool to refill");
  alive = false;
  assert.equal(pool.tryTake(), undefined);
  assert.equal(pool.stats().discarded, 4);
});

test("ConnPool backs off while the target is down instead of dialing in a loop, and close() stops it", async () => {
  const port = await closedLoopbackPort();
  let dials = 0;
  const pool = new ConnPool({
    dial: (signal) => {
      dials++;
      return tcp.dial({ hostname: "127.0.0.1", port }, { signal });
    },
    minIdle: 2,
    refillBackoffMs: 50,
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  // 2 dials at start, then one retry round per backoff (50, 100): a handful, not hundreds.
  assert.ok(dials >= 2 && dials <= 10, `dialed ${dials} times`);
  await assert.rejects(pool.get(), (error: { code?: string }) => error.code === "ECONNREFUSED");
  pool.close();
  pool.close();
  const after = dials;
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(dials, after);
  await assert.rejects(pool.get(), { message: "Cannot get a connection: the pool is closed" });
  assert.throws(() => new ConnPool({ dial: () => Promise.reject(new Error()), minIdle: 3, maxIdle: 1 }), {
    message: "Cannot create ConnPool as 'maxIdle' must be an integer >= minIdle (3): current value is 1",
  });
});
