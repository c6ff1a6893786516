/**
 * Latency-aware pacing of bulk streams on a mux session: the pacer's state machine, and sessions
 * over loopback TCP where a bulk transfer to a slow reader runs beside small round trips: pacing
 * starts, every byte still arrives byte-exact (also with a receive window larger than the
 * protocol's, where a pacing floor below the peer's WINDOW threshold would stall), and the round
 * trips keep going.
 */
import assert from "node:assert/strict";
import { BulkPacer, PACING_HOLD_MS, PING_GIVE_UP_MS, PING_SPACING_MS } from "../../../protocols/tunnel/_mux_pacer.ts";
import { PROTOCOL_WINDOW_BYTES, type TunnelStream } from "../../../protocols/tunnel/mux.ts";
import { randomBytes, sameBytes } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { delay, type MuxPair, muxPair, openPair } from "./_util.ts";

test("BulkPacer: no pacing until an interactive frame; then a probe at the floor, growth under the target, cuts above it", () => {
  const pacer = new BulkPacer();
  assert.equal(pacer.pacing, false);
  assert.equal(pacer.wantPing(0), false, "no pings while not pacing");
  pacer.noteInteractive(4, 0);
  assert.equal(pacer.pacing, true);
  assert.equal(pacer.limitFor(4), Infinity, "the interactive stream itself is not paced");
  assert.equal(pacer.wantPing(0), true);
  assert.equal(pacer.wantPing(0.5), false, "one pacing ping at a time");
  pacer.sample(0.5, 0.5); // first sample: probe at the floor
  assert.equal(pacer.limitFor(2), 0);
  for (let i = 0; i < 3; i++) pacer.sample(0.2, 1 + i); // probe samples: the bare round trip is 0.2 ms
  assert.equal(pacer.limitFor(2), 0);
  pacer.sample(0.3, 5); // under 0.2 + max(0.2, 0.1): grows by one frame
  assert.equal(pacer.limitFor(2), 16 * 1024);
  pacer.sample(0.3, 6);
  assert.equal(pacer.limitFor(2), 32 * 1024);
  pacer.sample(0.9, 7); // over the target: cut by a third
  assert.equal(pacer.limitFor(2), Math.floor(32 * 1024 * 2 / 3));
});

test("BulkPacer: one ping at a time, spaced, an unanswered one given up; pacing stops once interactive frames stop", () => {
  const pacer = new BulkPacer();
  pacer.noteInteractive(2, 0);
  assert.equal(pacer.wantPing(10), true);
  pacer.noteInteractive(2, 500);
  assert.equal(pacer.wantPing(600), false, "still awaited");
  pacer.noteInteractive(2, 1_000);
  assert.equal(pacer.wantPing(10 + PING_GIVE_UP_MS), true, "given up after the deadline: a new one");
  pacer.sample(0.1, 1_010.2);
  assert.equal(pacer.wantPing(1_010 + PING_SPACING_MS / 2), false, "spaced from the last one sent");
  assert.equal(pacer.wantPing(1_010 + PING_SPACING_MS), true);
  assert.equal(pacer.wantPing(1_000 + PACING_HOLD_MS + 1), false, "no interactive frame for longer than the hold");
  assert.equal(pacer.pacing, false);
  assert.equal(pacer.limitFor(4), Infinity);
  pacer.lost();
  assert.equal(pacer.wantPing(1_000 + PACING_HOLD_MS + 2), false);
});

/** Reads everything from `stream`, pausing `pauseMs` after every `everyBytes` (the slow stage). */
async function slowRead(stream: TunnelStream, total: number, everyBytes: number, pauseMs: number): Promise<Uint8Array> {
  const out = new Uint8Array(total);
  let at = 0;
  let sincePause = 0;
  const reader = stream.readable.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      assert.ok(at + value.byteLength <= total, "more bytes than were sent");
      out.set(value, at);
      at += value.byteLength;
      sincePause += value.byteLength;
      if (sincePause >= everyBytes) {
        sincePause = 0;
        await delay(pauseMs);
      }
    }
  } finally {
    reader.releaseLock();
  }
  assert.equal(at, total, "bytes missing");
  return out;
}

/**
 * Server sends `bulkBytes` on one stream to a slow client reader while doing `roundTrips` 64-byte
 * echoes on another; returns the pacing limits seen after each round trip.
 */
async function bulkBesideRoundTrips(pair: MuxPair, bulkBytes: number, roundTrips: number): Promise<number[]> {
  const [bulkOut, bulkIn] = await openPair(pair);
  const [askOut, askIn] = await openPair(pair);
  const data = randomBytes(bulkBytes, 7);
  const received = slowRead(bulkIn, bulkBytes, 512 * 1024, 2);
  const sent = (async () => {
    const writer = bulkOut.writable.getWriter();
    for (let at = 0; at < data.byteLength; at += 64 * 1024) await writer.write(data.subarray(at, at + 64 * 1024));
    await writer.close();
  })();
  const echo = (async () => { // the client side answers each request
    const reader = askIn.readable.getReader();
    const writer = askIn.writable.getWriter();
    for (let r = await reader.read(); !r.done; r = await reader.read()) await writer.write(r.value);
    await writer.close();
  })();
  const limits: number[] = [];
  const writer = askOut.writable.getWriter();
  const reader = askOut.readable.getReader();
  for (let i = 0; i < roundTrips; i++) {
    const request = randomBytes(64, i + 1);
    await writer.write(request);
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < 64) {
      const { done, value } = await reader.read();
      assert.ok(!done, "the echo stream ended early");
      parts.push(value);
      got += value.byteLength;
    }
    const reply = new Uint8Array(got);
    let at = 0;
    for (const p of parts) reply.set(p, (at += p.byteLength) - p.byteLength);
    assert.ok(sameBytes(reply, request), `round trip ${i} came back different`);
    limits.push(pair.server.pacingLimitBytes);
  }
  await writer.close();
  assert.equal((await reader.read()).done, true);
  await Promise.all([sent, echo]);
  assert.ok(sameBytes(await received, data), "the bulk transfer arrived different");
  return limits;
}

test("a bulk stream to a slow reader beside round trips is paced, and every byte of both arrives", async () => {
  await using pair = await muxPair();
  const limits = await bulkBesideRoundTrips(pair, 24 * 1024 * 1024, 100);
  assert.ok(limits.some((limit) => limit < Infinity), "pacing never started");
  assert.ok(limits.some((limit) => limit < PROTOCOL_WINDOW_BYTES), `never held below the window: ${limits.slice(-5)}`);
});

test("pacing does not stall a stream whose peer grants a larger window (a WINDOW comes only after a quarter of it)", async () => {
  await using pair = await muxPair({ initialWindowBytes: 4 * 1024 * 1024 });
  const limits = await bulkBesideRoundTrips(pair, 24 * 1024 * 1024, 100);
  assert.ok(limits.some((limit) => limit < Infinity), "pacing never started");
});

test("every PING gets its PONG, also several in one read (a caller's ping beside the pacing probes)", async () => {
  await using pair = await muxPair();
  const signal = AbortSignal.timeout(10_000);
  for (let round = 0; round < 5; round++) {
    const rtts = await Promise.all(Array.from({ length: 8 }, () => pair.server.ping({ signal })));
    assert.equal(rtts.length, 8);
    assert.ok(rtts.every((rtt) => rtt >= 0));
  }
});

test("pacing with a window that is not a multiple of 4 keeps whole frames (the floor is rounded)", async () => {
  await using pair = await muxPair({ initialWindowBytes: 256 * 1024 + 1 });
  const limits = await bulkBesideRoundTrips(pair, 8 * 1024 * 1024, 60);
  assert.ok(limits.some((limit) => limit < Infinity), "pacing never started");
});
