/**
 * Randomized scenarios on one loopback session: many streams at once, each with a behaviour drawn
 * from a seeded PRNG (echo, upload, close after writing, reset midway), random sizes and chunking.
 * Data that must arrive arrives byte-exact, failures are the documented NetErrors, nothing hangs,
 * and both stream tables drain to zero.
 */
import assert from "node:assert/strict";
import { NetError } from "../../../protocols/errors.ts";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import type { TunnelStream } from "../../../protocols/tunnel/mux.ts";
import { randomBytes } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { expectBytes, muxPair, prng, readAll, waitFor } from "./_util.ts";

type Behaviour = "echo" | "upload" | "close-after-write" | "reset";
const BEHAVIOURS: readonly Behaviour[] = ["echo", "upload", "close-after-write", "reset"];

async function writeChunks(stream: TunnelStream, data: Uint8Array, random: () => number): Promise<void> {
  const writer = stream.writable.getWriter();
  for (let at = 0; at < data.byteLength;) {
    const n = 1 + Math.floor(random() * 40_000);
    await writer.write(data.subarray(at, at + n));
    at += n;
  }
  writer.releaseLock();
}

/** The documented failures of a stream that was reset or closed under us. */
function isStreamFailure(error: unknown): boolean {
  return error instanceof NetError && ["ECONNRESET", "ECLOSED", "EPIPE"].includes(error.code);
}

async function serverSide(stream: TunnelStream, behaviour: Behaviour, data: Uint8Array, random: () => number) {
  switch (behaviour) {
    case "echo":
      await Promise.all([
        writeChunks(stream, data, random).then(() => stream.closeWrite()),
        expectBytes(stream.readable, data),
      ]);
      break;
    case "upload":
      await writeChunks(stream, data, random);
      await stream.closeWrite();
      assert.equal((await readAll(stream.readable)).byteLength, 0);
      break;
    case "close-after-write":
      await expectBytes(stream.readable, data); // the client wrote, then closed without waiting
      break;
    case "reset":
      try {
        await writeChunks(stream, data, random);
        await readAll(stream.readable);
      } catch (error) {
        assert.ok(isStreamFailure(error), String(error));
      }
  }
  stream.close();
}

async function clientSide(stream: TunnelStream, behaviour: Behaviour, data: Uint8Array, random: () => number) {
  switch (behaviour) {
    case "echo": {
      const reader = stream.readable.getReader();
      const writer = stream.writable.getWriter();
      for (let r = await reader.read(); !r.done; r = await reader.read()) await writer.write(r.value.slice());
      await writer.close();
      break;
    }
    case "upload":
      await expectBytes(stream.readable, data);
      await stream.closeWrite();
      break;
    case "close-after-write":
      await writeChunks(stream, data, random);
      stream.close(); // TCP-like: the peer still reads everything
      return;
    case "reset": {
      const reader = stream.readable.getReader();
      let got = 0;
      const stopAt = Math.floor(random() * data.byteLength);
      while (got <= stopAt) {
        const r = await reader.read();
        if (r.done) break;
        got += r.value.byteLength;
      }
      stream.reset("local_unreachable");
      assert.equal(stream.resetCode, undefined); // our own reset does not set the peer's code
      return;
    }
  }
  stream.close();
}

for (const seed of [0xc0ffee, 1, 2, 3, 4]) {
  test(`MuxSession survives randomized concurrent stream scenarios (seed ${seed})`, () => scenario(seed));
}

async function scenario(seed: number): Promise<void> {
  const random = prng(seed);
  await using pair = await muxPair();
  const count = 60;
  const plan = Array.from({ length: count }, (_, i) => ({
    behaviour: BEHAVIOURS[Math.floor(random() * BEHAVIOURS.length)],
    data: randomBytes(1 + Math.floor(random() * 400_000), i + 1),
  }));
  const clients = (async () => {
    const running: Promise<void>[] = [];
    for await (const { header, conn } of pair.client.accept()) {
      const i = header[0];
      running.push(clientSide(conn, plan[i].behaviour, plan[i].data, prng(seed + i)));
      if (running.length === count) break;
    }
    await Promise.all(running);
  })();
  const servers = plan.map(async ({ behaviour, data }, i) => {
    const stream = await pair.server.open(new Uint8Array([i]));
    await serverSide(stream, behaviour, data, prng(seed + 1000 + i));
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("scenarios did not finish within 30 s")), 30_000);
  });
  try {
    await Promise.race([Promise.all([clients, ...servers]), hung]);
  } finally {
    clearTimeout(timer);
  }
  await waitFor(() => pair.server.streamCount === 0 && pair.client.streamCount === 0, 5_000, "empty stream tables");
  assert.equal(pair.server.closeReason, undefined);
  assert.ok(await pair.server.ping() >= 0);
  assert.equal(pair.server.bufferedBytes, 0);
  assert.equal(pair.client.bufferedBytes, 0);
}

test("a reset stream reports the peer's code on both reads and writes", async () => {
  await using pair = await muxPair();
  const opened = await pair.server.open(new Uint8Array([1]));
  const { value } = await pair.client.accept().next();
  value!.conn.reset("unknown_service");
  const check = (error: unknown) =>
    error instanceof NetError && error.code === "ECONNRESET" &&
    error.cause instanceof TunnelError && error.cause.code === "unknown_service";
  await assert.rejects(readAll(opened.readable), check);
  await assert.rejects(opened.writable.getWriter().write(new Uint8Array(1)), check);
  assert.equal(opened.resetCode, "unknown_service");
});
