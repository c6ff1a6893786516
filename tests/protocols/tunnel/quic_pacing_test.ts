/**
 * Pacing of bulk streams on QUIC tunnel sessions (capability `stream-pacing`, PROTOCOL.md section
 * 7.2): the rate pacer's state machine; the capability negotiated on QUIC and not on TCP; a `probe`
 * on a session that did not negotiate it is a protocol error; and end to end over QUIC, a bulk
 * download beside small round trips gets paced while every byte still arrives exact, and pacing
 * ends once the round trips stop.
 */
import assert from "node:assert/strict";
import { PACING_HOLD_MS, PING_GIVE_UP_MS, PING_SPACING_MS } from "../../../protocols/tunnel/_mux_pacer.ts";
import {
  BulkRatePacer,
  MIN_RATE_BYTES_PER_MS,
  RATE_STEP_BYTES_PER_MS,
  START_RATE_BYTES_PER_MS,
} from "../../../protocols/tunnel/_rate_pacer.ts";
import { STREAM_PACING_CAPABILITY } from "../../../protocols/tunnel/mod.ts";
import { TunnelMetrics } from "../../../ha/metrics.ts";
import { QuicStreamPacing } from "../../../protocols/tunnel/stream_pacing.ts";
import type { Conn } from "../../../protocols/types.ts";
import { test } from "../../_util/test.ts";
import { sleep as delay, waitFor } from "../../_util/wait.ts";
import { bulkTransfer, runLatencyUnderLoad, startLoadTarget } from "./_latency_load.ts";
import { makeClient, QUIC_TRANSPORT, rawAuthenticate, rawSession, startServer, TCP_TRANSPORT } from "./_tunnel_util.ts";

test("BulkRatePacer: no pacing until another stream's interactive burst; then a drain, growth under the target, cuts above it", () => {
  const pacer = new BulkRatePacer();
  const bulk = {}, interactive = {};
  assert.equal(pacer.pacing, false);
  assert.equal(pacer.take(1 << 20, 0), 0, "everything goes while not pacing");
  assert.equal(pacer.wantPing(0), false, "no probes while not pacing");
  pacer.noteInteractive(bulk, 0); // a transfer's own first burst
  assert.equal(pacer.pacesWrite(bulk, 0), false, "a transfer alone is never paced");
  assert.equal(pacer.pacing, false);
  pacer.noteInteractive(interactive, 0);
  assert.equal(pacer.pacesWrite(bulk, 0), true);
  assert.equal(pacer.rate, START_RATE_BYTES_PER_MS);
  assert.equal(pacer.pacing, true);
  pacer.noteInteractive(bulk, 0.1); // the bulk stream's own burst does not end what the other one started
  assert.equal(pacer.pacesWrite(bulk, 0.1), true);
  assert.equal(pacer.wantPing(0), true);
  assert.equal(pacer.wantPing(0.5), false, "one probe at a time");
  pacer.sample(0.5, 0.5); // the first sample: a drain, so the bare round trip is measured
  assert.equal(pacer.rate, 0);
  assert.equal(pacer.take(1, 0.6), Infinity, "nothing goes while draining");
  for (let i = 0; i < 3; i++) pacer.sample(0.2, 1 + i);
  assert.equal(pacer.rate, START_RATE_BYTES_PER_MS, "back to the rate before the drain");
  pacer.sample(0.3, 5); // under 0.2 + max(0.2, 0.1): grows
  assert.equal(pacer.rate, START_RATE_BYTES_PER_MS + RATE_STEP_BYTES_PER_MS);
  pacer.sample(0.9, 6); // one late answer: the smaller of it and the one before (0.3) is under the target
  assert.equal(pacer.rate, START_RATE_BYTES_PER_MS + 2 * RATE_STEP_BYTES_PER_MS);
  pacer.sample(0.8, 7); // two in a row over the target: a queue, cut by a third
  const cut = (START_RATE_BYTES_PER_MS + 2 * RATE_STEP_BYTES_PER_MS) * 2 / 3;
  assert.equal(pacer.rate, cut);
  pacer.sample(0.8, 8); // the sample after a cut does not cut again
  assert.equal(pacer.rate, cut);
  for (let i = 0; i < 40; i++) pacer.sample(5, 9 + i);
  assert.equal(pacer.rate, MIN_RATE_BYTES_PER_MS, "never below the floor");
});

test("BulkRatePacer: transfers starting together do not pace each other; an ended interactive stream counts for the hold", () => {
  const a = {}, b = {}, interactive = {};
  const pacer = new BulkRatePacer();
  pacer.noteInteractive(a, 0); // the first bytes of two transfers
  pacer.noteInteractive(b, 1);
  assert.equal(pacer.pacesWrite(a, 2), true, "before b turns bulk, its first bytes look interactive");
  pacer.forget(a); // both turned bulk
  pacer.forget(b);
  assert.equal(pacer.pacesWrite(a, 3), false);
  assert.equal(pacer.pacesWrite(b, 3), false);
  pacer.expire(3);
  assert.equal(pacer.pacing, false, "nothing interactive is left");
  pacer.noteInteractive(interactive, 10); // a request stream, which then ends (the pacer is not told)
  pacer.noteInteractive(a, 11); // a new transfer's first bytes; it turns bulk
  pacer.forget(a);
  assert.equal(pacer.pacesWrite(b, 12), true, "the request stream from before still counts");
  assert.equal(pacer.pacesWrite(b, 10 + PACING_HOLD_MS), true, "until the hold passes");
  assert.equal(pacer.pacesWrite(b, 11 + PACING_HOLD_MS), false);
});

/** A pacer that paces (another stream wrote interactive bytes at `at`). */
function pacingPacer(at = 0): BulkRatePacer {
  const pacer = new BulkRatePacer();
  pacer.noteInteractive("interactive", at);
  assert.equal(pacer.pacesWrite("bulk", at), true);
  return pacer;
}

test("BulkRatePacer: the budget lets bytes go at the rate, with a short burst at most", () => {
  const pacer = pacingPacer();
  const rate = pacer.rate; // bytes per ms
  assert.equal(pacer.take(64 * 1024, 0), 0, "a first write goes at once");
  const wait = pacer.take(1024, 0);
  assert.ok(wait > 0 && wait <= (64 * 1024) / rate + 1e-9, `waits for the debt to be paid: ${wait} ms`);
  assert.equal(pacer.take(1024, wait), 0, "and goes once it is");
  // A long pause does not bank more than a short burst.
  let sent = 0;
  while (pacer.take(16 * 1024, 1_000) === 0) sent += 16 * 1024;
  assert.ok(sent <= Math.max(64 * 1024, rate * 2) + 16 * 1024, `burst of ${sent} bytes after a pause`);
});

test("BulkRatePacer: one probe at a time, spaced, an unanswered one given up; pacing ends after the hold", () => {
  const pacer = pacingPacer();
  assert.equal(pacer.wantPing(10), true);
  pacer.noteInteractive("interactive", 500);
  assert.equal(pacer.wantPing(600), false, "still awaited");
  pacer.noteInteractive("interactive", 1_000);
  assert.equal(pacer.wantPing(10 + PING_GIVE_UP_MS), true, "given up after the deadline: a new one");
  pacer.sample(0.1, 1_010.2);
  assert.equal(pacer.wantPing(1_010 + PING_SPACING_MS / 2), false, "spaced from the last one sent");
  assert.equal(pacer.wantPing(1_010 + PING_SPACING_MS), true);
  pacer.expire(1_000 + PACING_HOLD_MS);
  assert.equal(pacer.pacing, true, "still within the hold");
  pacer.expire(1_000 + PACING_HOLD_MS + 1);
  assert.equal(pacer.pacing, false);
  assert.equal(pacer.take(1 << 20, 3_000), 0);
  assert.equal(pacer.wantPing(3_000), false);
});

test("BulkRatePacer: a given-up probe ends a drain (no answers must not stop the bulk for good)", () => {
  const pacer = pacingPacer();
  assert.equal(pacer.wantPing(0), true);
  pacer.sample(0.3, 0.3); // the first sample starts a drain
  assert.equal(pacer.rate, 0);
  assert.equal(pacer.wantPing(1.5), true);
  pacer.lost(1.5 + PING_GIVE_UP_MS); // never answered
  assert.equal(pacer.rate, START_RATE_BYTES_PER_MS, "the rate before the drain");
  assert.equal(pacer.take(1024, 1.5 + PING_GIVE_UP_MS + 1), 0);
});

/** A QUIC stream by shape: its writes go through the gate, like `QuicStreamConn`'s. */
function fakeStream() {
  const closed = Promise.withResolvers<void>();
  let gate: ((bytes: number) => Promise<void> | undefined) | undefined;
  const stream = {
    closed: closed.promise,
    gateWrites: (g: typeof gate) => void (gate = g),
    close: () => closed.resolve(),
    /** Resolves once the gate lets `bytes` go; `waited` says whether it had to wait. */
    async write(bytes: number): Promise<{ waited: boolean }> {
      const waiting = gate!(bytes);
      if (waiting) await waiting;
      return { waited: waiting !== undefined };
    },
  };
  return stream as typeof stream & Conn;
}

/** A session's pacing whose peer answers each probe after `answerMs()` ms, or never when that says `undefined`. */
function pacingWithPeer(answerMs: (probe: number) => number | undefined) {
  const pacing = new QuicStreamPacing();
  let probes = 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  pacing.enable((probe) => {
    const after = answerMs(++probes);
    if (after !== undefined) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        pacing.acknowledged({ type: "probe_ack", seq: probe.seq });
      }, after);
      timers.add(timer);
    }
    return Promise.resolve();
  });
  return {
    pacing,
    close() {
      for (const timer of timers) clearTimeout(timer);
      pacing.close();
    },
  };
}

test("QuicStreamPacing: eight transfers starting together on a session stop pacing each other once all are bulk", async () => {
  const { pacing, close } = pacingWithPeer(() => 1);
  try {
    const streams = Array.from({ length: 8 }, fakeStream);
    for (const s of streams) pacing.track(s);
    for (const s of streams) assert.equal((await s.write(16 * 1024)).waited, false); // first bytes: interactive
    // Until the last one turns bulk, the others' first bytes look interactive: this round may wait.
    await Promise.all(streams.map((s) => s.write(64 * 1024)));
    assert.equal(pacing.stats().rateBytesPerMs, null, "nothing interactive is left");
    const delayed = pacing.stats().delayedWrites;
    for (let i = 0; i < 20; i++) {
      for (const s of streams) assert.equal((await s.write(64 * 1024)).waited, false, `round ${i}`);
    }
    assert.equal(pacing.stats().delayedWrites, delayed);
  } finally {
    close();
  }
});

test("QuicStreamPacing: with a peer that stops answering, no bulk write waits much past the one-second give-up", async () => {
  const { pacing, close } = pacingWithPeer((n) => n === 1 ? 1 : undefined); // the first answer starts a drain
  const interactive = fakeStream(), bulk = fakeStream();
  // Interactive traffic on its own clock, so pacing stays on whatever the bulk does.
  const chatter = setInterval(() => void interactive.write(10), 100);
  try {
    pacing.track(interactive);
    pacing.track(bulk);
    await interactive.write(100);
    await bulk.write(128 * 1024); // bulk from here on; the first probe goes out
    await waitFor(() => pacing.stats().rateBytesPerMs === 0, "the first drain");
    const started = performance.now();
    let moved = 0, longestWait = 0;
    while (performance.now() - started < 3_000 && moved < 4 * 1024 * 1024) {
      const before = performance.now();
      const went = await Promise.race([bulk.write(64 * 1024).then(() => true), delay(2_500).then(() => false)]);
      assert.ok(went, "a bulk write waited over 2.5 s");
      longestWait = Math.max(longestWait, performance.now() - before);
      moved += 64 * 1024;
    }
    assert.equal(moved, 4 * 1024 * 1024, `only ${moved} bytes moved in 3 s with an unanswering peer`);
    assert.ok(longestWait < PING_GIVE_UP_MS + 500, `a write waited ${longestWait.toFixed(0)} ms`);
    assert.notEqual(pacing.stats().rateBytesPerMs, null, "still pacing");
  } finally {
    clearInterval(chatter);
    close();
  }
});

test("QuicStreamPacing: a stream closed while its write waits is let go at once, and writes wait no more once pacing ends", async () => {
  const { pacing, close } = pacingWithPeer((n) => n === 1 ? 0 : undefined); // the first answer starts a drain
  try {
    const interactive = fakeStream(), bulk = fakeStream(), other = fakeStream();
    for (const s of [interactive, bulk, other]) pacing.track(s);
    await interactive.write(100);
    await bulk.write(128 * 1024); // the first probe goes out; its answer starts a drain that no answer ends
    await waitFor(() => pacing.stats().rateBytesPerMs === 0, "a drain");
    const settled = bulk.write(64 * 1024).then(() => "settled");
    assert.equal(await Promise.race([settled, delay(20).then(() => "waiting")]), "waiting");
    bulk.close();
    assert.equal(await Promise.race([settled, delay(200).then(() => "still waiting")]), "settled");
    // Once no interactive write came for the hold, nothing is paced: bulk writes go at once.
    await waitFor(() => pacing.stats().rateBytesPerMs === null, "pacing to end", PACING_HOLD_MS + 3_000);
    for (let i = 0; i < 20; i++) assert.equal((await other.write(1024 * 1024)).waited, false);
  } finally {
    close();
  }
});

test("QuicStreamPacing: twenty bulk streams held at the slowest rate stay paced (never counted interactive), and pacing ends after the hold", async () => {
  // The peer answers fast while the bulk pauses and slowly otherwise: a queue, so the rate falls to its floor.
  const peer: { pacing?: QuicStreamPacing } = {};
  const { pacing, close } = pacingWithPeer(() => peer.pacing!.stats().rateBytesPerMs === 0 ? 2 : 10);
  peer.pacing = pacing;
  const bulks = Array.from({ length: 20 }, fakeStream);
  const interactive = fakeStream();
  let stop = false;
  let moved = 0;
  try {
    for (const s of [interactive, ...bulks]) pacing.track(s);
    await interactive.write(100);
    const loops = bulks.map(async (s) => {
      for (let i = 0; i < 10_000 && !stop; i++) {
        await s.write(16 * 1024);
        moved += 16 * 1024;
      }
    });
    const started = performance.now();
    for (let i = 0; i < 30; i++) { // interactive writes for about 3 s
      await delay(100);
      await interactive.write(10);
    }
    const elapsedMs = performance.now() - started;
    // At the floor (8 KiB per ms) 20 streams write about 40 KiB each per 100 ms: windows that look quiet.
    // (Every 2 s a pause and the steps back down to the floor take about 70 ms.)
    const rate = pacing.stats().rateBytesPerMs;
    assert.ok(rate !== null && rate <= 3 * MIN_RATE_BYTES_PER_MS, `the rate is ${rate}`);
    // The start (64 KiB per ms, cut by a third per two samples) moves a few MiB; then the floor holds.
    const bound = 8 * 1024 * 1024 + elapsedMs * MIN_RATE_BYTES_PER_MS * 1.25;
    assert.ok(moved < bound, `${moved} bytes went out in ${elapsedMs.toFixed(0)} ms, over ${bound.toFixed(0)}`);
    await waitFor(() => pacing.stats().rateBytesPerMs === null, "pacing to end", PACING_HOLD_MS + 3_000);
    stop = true;
    await Promise.all(loops);
  } finally {
    stop = true;
    close();
  }
});

test("stream-pacing is negotiated on QUIC and never on the TLS/TCP mux", async () => {
  for (const transport of [QUIC_TRANSPORT, TCP_TRANSPORT]) {
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      services: [{ name: "idle", localAddr: "127.0.0.1:9" }],
    });
    await client.start();
    const quic = transport === QUIC_TRANSPORT;
    assert.equal(client.pacing?.enabled, quic ? true : undefined, transport.name);
    await waitFor(() => server.clients()[0]?.connected === true, "the session on the server");
    assert.equal(server.clients()[0].pacing?.enabled, quic ? true : undefined, transport.name);
    if (quic) {
      assert.equal(client.pacing!.rateBytesPerMs, null, "nothing paced on an idle session");
      assert.equal(client.pacing!.probes, 0);
    }
  }
});

test("a probe on a session without stream-pacing is a protocol error", async () => {
  await using server = await startServer(TCP_TRANSPORT);
  using raw = await rawSession(server.addr!.port);
  // The client offers it; the TCP mux cannot serve it, so the server leaves it out.
  const { challenge } = await rawAuthenticate(raw, ["resume", STREAM_PACING_CAPABILITY]);
  assert.deepEqual(challenge.capabilities, ["resume"]);
  assert.equal((await raw.control.receive()).type, "welcome");
  await raw.control.send({ type: "probe", seq: 1 });
  assert.deepEqual(await raw.control.receive({ signal: AbortSignal.timeout(5_000) }), {
    type: "error",
    code: "protocol",
    message: `unexpected probe: ${STREAM_PACING_CAPABILITY} was not negotiated`,
  });
});

/**
 * A QUIC tunnel server (with Prometheus metrics) and client exposing a load target
 * (`startLoadTarget`) on `port`; disposing stops all three.
 */
async function quicTunnelToLoad() {
  const target = await startLoadTarget();
  const metrics = await TunnelMetrics.create({ defaultMetrics: false });
  const server = await startServer(QUIC_TRANSPORT, {}, undefined, metrics);
  const client = await makeClient(QUIC_TRANSPORT, server.addr!.port, {
    services: [{ name: "load", localAddr: `127.0.0.1:${target.port}` }],
  });
  await client.start();
  return {
    server,
    client,
    metrics,
    port: client.services()[0].remotePort!,
    async [Symbol.asyncDispose]() {
      await client[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
      await target[Symbol.asyncDispose]();
    },
  };
}

for (const direction of ["down", "up"] as const) {
  test(`reverse tunnel over quic: a ${direction}load alone on its session is never paced`, async () => {
    await using tunnel = await quicTunnelToLoad();
    const { server, client, port } = tunnel;
    const result = await bulkTransfer(port, 32 * 1024 * 1024, direction).done;
    assert.ok(result.intact, "the bulk arrived damaged or short");
    for (const stats of [client.pacing!, server.clients()[0].pacing!]) {
      assert.deepEqual(stats, { enabled: true, rateBytesPerMs: null, probes: 0, delayedWrites: 0 });
    }
  });
}

for (const direction of ["down", "up"] as const) {
  // Down: the client writes the bulk into the tunnel and paces it; up: the server does.
  const sender = direction === "down" ? "client" : "server";
  test(
    `reverse tunnel over quic: a bulk ${direction}load beside round trips is paced by the ${sender}, byte-exact, and pacing ends after`,
    async () => {
      await using tunnel = await quicTunnelToLoad();
      const { server, client, port } = tunnel;
      const pacing = () => sender === "client" ? client.pacing : server.clients()[0]?.pacing;
      let minRate = Infinity;
      const watch = setInterval(() => (minRate = Math.min(minRate, pacing()?.rateBytesPerMs ?? Infinity)), 5);
      // The server's gauge counts sessions whose server side paces: the upload's.
      const gauge: string[] = [];
      const scrape = setInterval(async () => {
        gauge.push(/^ts_tunnel_tunnel_sessions_pacing (\d+)$/m.exec(await tunnel.metrics.text())?.[1] ?? "missing");
      }, 20);
      let result;
      try {
        result = await runLatencyUnderLoad({
          port,
          bulk: () => bulkTransfer(port, 48 * 1024 * 1024, direction),
          idleRoundTrips: 50,
          maxLoadedRoundTrips: 100_000,
          turns: 20,
        });
      } finally {
        clearInterval(watch);
        clearInterval(scrape);
      }
      assert.ok(result.bulkIntact, `the bulk arrived damaged or short: ${result.bulkBytes} bytes`);
      assert.ok(result.repliesExact, "a reply differed from its request");
      assert.ok(result.loadedMs.length >= 20, `only ${result.loadedMs.length} round trips while the bulk ran`);
      const stats = pacing()!;
      assert.ok(stats.probes > 0, `the ${sender} (the bulk's sender) sent probes`);
      assert.ok(stats.delayedWrites > 0, "bulk writes waited for budget");
      assert.ok(minRate < Infinity, "a finite rate was seen while the bulk ran");
      assert.ok(!gauge.includes("missing"), "the pacing gauge is exported");
      assert.equal(gauge.includes("1"), sender === "server", `the server's pacing gauge read ${[...new Set(gauge)]}`);
      await waitFor(() => pacing()?.rateBytesPerMs === null, "pacing to end", PACING_HOLD_MS + 5_000);
    },
    { timeoutMs: 90_000 },
  );
}
