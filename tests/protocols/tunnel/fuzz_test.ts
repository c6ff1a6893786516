/**
 * Fuzzing of every parser of the tunnel wire layer and of a live MuxSession: random bytes and
 * mutated valid inputs from a seeded PRNG. Each input must give a valid result or a TunnelError
 * coded `protocol` (never another exception, a hang, an unhandled rejection, or a buffer beyond
 * the stated bounds). `FUZZ_ITERATIONS` (default 20000) and `FUZZ_SEED` scale and vary the run;
 * `scripts/fuzz.sh` runs it long.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { setImmediate } from "node:timers";
import { nativeIO } from "../../../protocols/_native_io.ts";
import { isCleanClose } from "../../../protocols/errors.ts";
import type { Conn } from "../../../protocols/types.ts";
import { ControlChannel } from "../../../protocols/tunnel/control_channel.ts";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import { encodeMessage, parseMessage } from "../../../protocols/tunnel/messages.ts";
import { MuxSession } from "../../../protocols/tunnel/mux.ts";
import {
  encodeFrame,
  FrameParser,
  FrameType,
  MAX_DATA_BYTES,
  MAX_FRAME_BYTES,
} from "../../../protocols/tunnel/mux_frame.ts";
import { decodeStreamHeader, encodeStreamHeader } from "../../../protocols/tunnel/stream_header.ts";
import { test } from "../../_util/test.ts";
import { VALID_HEADERS, VALID_MESSAGES } from "./_samples.ts";
import { ScriptedPullConn, ScriptedPushConn } from "./_native_conns.ts";
import { prng, ScriptedConn, tcpPair } from "./_util.ts";

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const WINDOW = 256 * 1024;
/** Bun enforces per-test timeouts: scale them with the iteration count. */
const TIMEOUT = { timeoutMs: 60_000 + ITERATIONS * 2 };

class Fuzzer {
  readonly random: () => number;
  constructor(seed: number) {
    this.random = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  /** Flips, inserts, deletes, duplicates or truncates a few bytes. */
  mutate(input: Uint8Array): Uint8Array {
    let bytes: Uint8Array = input.slice();
    const rounds = 1 + this.int(4);
    for (let r = 0; r < rounds; r++) {
      const at = this.int(bytes.byteLength + 1);
      switch (this.int(6)) {
        case 0:
          if (bytes.byteLength) bytes[Math.min(at, bytes.byteLength - 1)] ^= 1 << this.int(8);
          break;
        case 1:
          if (bytes.byteLength) {
            bytes[Math.min(at, bytes.byteLength - 1)] = this.pick([0, 1, 0x7f, 0x80, 0xff, 0x22, 0x7b]);
          }
          break;
        case 2:
          bytes = concat(bytes.subarray(0, at), this.bytes(1 + this.int(8)), bytes.subarray(at));
          break;
        case 3:
          bytes = concat(bytes.subarray(0, at), bytes.subarray(at + 1 + this.int(8)));
          break;
        case 4:
          bytes = concat(bytes.subarray(0, at), bytes.subarray(Math.max(0, at - 16), at), bytes.subarray(at));
          break;
        default:
          bytes = bytes.subarray(0, at);
      }
    }
    return bytes;
  }
  /** Splits bytes into random chunks. */
  chunks(bytes: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let at = 0; at < bytes.byteLength;) {
      const n = 1 + this.int(this.random() < 0.5 ? 16 : 4096);
      out.push(bytes.slice(at, at + n));
      at += n;
    }
    return out;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function expectProtocolError(error: unknown, what: string): void {
  if (error instanceof TunnelError && error.code === "protocol") return;
  throw new Error(`${what} threw something other than TunnelError("protocol"): ${error}`, { cause: error });
}

/** A plausible frame sequence for a client-role session: opens, data, windows, closes, pings. */
function frameScript(f: Fuzzer): Uint8Array {
  const frames: Uint8Array[] = [];
  const open: number[] = [];
  let next = 2;
  const count = 1 + f.int(24);
  for (let i = 0; i < count; i++) {
    const id = open.length && f.random() < 0.8 ? f.pick(open) : 0;
    switch (f.int(9)) {
      case 0:
      case 1:
        frames.push(encodeFrame(FrameType.OPEN, next, encodeStreamHeader(f.pick(VALID_HEADERS))));
        open.push(next);
        next += 2;
        break;
      case 2:
      case 3:
        frames.push(encodeFrame(FrameType.DATA, id, f.bytes(1 + f.int(f.random() < 0.1 ? MAX_DATA_BYTES : 64))));
        break;
      case 4:
        frames.push(encodeFrame(FrameType.WINDOW, id, new Uint8Array([0, 0, f.int(256), 1 + f.int(255)])));
        break;
      case 5:
        frames.push(encodeFrame(FrameType.FIN, id));
        break;
      case 6:
        frames.push(encodeFrame(FrameType.RST, id || 2, new Uint8Array([0, f.int(12)])));
        break;
      case 7:
        frames.push(encodeFrame(FrameType.PING, 0, f.bytes(8)));
        break;
      default:
        frames.push(encodeFrame(FrameType.PONG, 0, f.bytes(8)));
    }
  }
  return concat(...frames);
}

test("fuzz: parseMessage() returns a valid message or throws TunnelError(protocol)", () => {
  const f = new Fuzzer(SEED);
  const bodies = VALID_MESSAGES.map((m) => encodeMessage(m).subarray(4));
  let accepted = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = f.random() < 0.2 ? f.bytes(f.int(200)) : f.mutate(f.pick(bodies));
    try {
      const message = parseMessage(input);
      accepted++;
      // Whatever was accepted re-encodes to something that parses to the same message.
      assert.deepEqual(parseMessage(encodeMessage(message).subarray(4)), message);
    } catch (error) {
      expectProtocolError(error, "parseMessage");
    }
  }
  assert.ok(accepted > 0, "some mutations stay valid");
}, TIMEOUT);

test("fuzz: decodeStreamHeader() returns a header, asks for more, or throws TunnelError(protocol)", () => {
  const f = new Fuzzer(SEED + 1);
  const encoded = VALID_HEADERS.map((h) => encodeStreamHeader(h));
  for (let i = 0; i < ITERATIONS; i++) {
    const input = f.random() < 0.2 ? f.bytes(f.int(320)) : f.mutate(f.pick(encoded));
    try {
      const result = decodeStreamHeader(input);
      if (!result) continue;
      assert.ok(result.length <= input.byteLength && result.length <= 294);
      const again = decodeStreamHeader(encodeStreamHeader(result.header));
      assert.deepEqual(again?.header, result.header);
    } catch (error) {
      expectProtocolError(error, "decodeStreamHeader");
    }
  }
}, TIMEOUT);

test("fuzz: FrameParser yields well-formed frames or throws TunnelError(protocol), within its buffer bound", () => {
  const f = new Fuzzer(SEED + 2);
  let frames = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = f.random() < 0.2 ? f.bytes(f.int(2048)) : f.mutate(frameScript(f));
    const parser = new FrameParser();
    try {
      for (const chunk of f.chunks(input)) {
        parser.push(chunk);
        for (let frame = parser.next(); frame; frame = parser.next()) {
          frames++;
          assert.ok(frame.type <= 6 && frame.payload.byteLength <= MAX_DATA_BYTES);
        }
        assert.ok(parser.bufferedBytes < MAX_FRAME_BYTES);
      }
    } catch (error) {
      expectProtocolError(error, "FrameParser");
    }
  }
  assert.ok(frames > ITERATIONS);
}, TIMEOUT);

test("fuzz: ControlChannel.receive() yields messages or fails with TunnelError or a clean close", async () => {
  const f = new Fuzzer(SEED + 3);
  const frames = VALID_MESSAGES.map((m) => encodeMessage(m));
  for (let i = 0; i < ITERATIONS / 10; i++) {
    const conn = new ScriptedConn();
    const channel = new ControlChannel(conn);
    const input = f.random() < 0.2 ? f.bytes(f.int(512)) : f.mutate(concat(...frames.filter(() => f.random() < 0.3)));
    for (const chunk of f.chunks(input)) conn.push(chunk);
    conn.end();
    for (let n = 0; n < 64; n++) {
      try {
        await channel.receive();
      } catch (error) {
        if (!isCleanClose(error)) expectProtocolError(error, "ControlChannel.receive");
        break;
      }
    }
    channel.close();
  }
}, TIMEOUT);

/** A conn the fuzzer feeds: web streams, pull I/O (random read sizes) or push I/O, like the runtimes' conns. */
function scriptedConn(f: Fuzzer): { conn: Conn; push(bytes: Uint8Array): void; end(): void } {
  switch (f.int(3)) {
    case 0: {
      const conn = new ScriptedConn();
      return { conn, push: (bytes) => conn.push(bytes), end: () => conn.end() };
    }
    case 1: {
      const conn = new ScriptedPullConn((room) => (f.random() < 0.5 ? room : 1 + f.int(room)));
      return { conn, push: (bytes) => conn.push(bytes), end: () => conn.end() };
    }
    default: {
      const conn = new ScriptedPushConn();
      return { conn, push: (bytes) => conn.push(bytes), end: () => conn.endInput() };
    }
  }
}

/** Feeds `input` to a fresh session; checks its memory bound; requires it to end within a time bound. */
async function fuzzSession(f: Fuzzer, input: Uint8Array, role: "client" | "server"): Promise<"clean" | "protocol"> {
  const conn = scriptedConn(f);
  const session = new MuxSession(conn.conn, { role, maxStreams: 8, flushTimeoutMs: 50 });
  const accepted: Promise<void>[] = [];
  if (role === "client") {
    accepted.push((async () => {
      for await (const { conn: stream } of session.accept()) {
        // Read a little from some streams, leave others alone, reset a few.
        const choice = f.int(4);
        if (choice === 0) stream.readable.getReader().read().catch(() => {});
        else if (choice === 1) stream.close();
        else if (choice === 2) readNative(stream);
      }
    })());
  }
  for (const chunk of f.chunks(input)) conn.push(chunk);
  // Let the session consume its input (setImmediate: a macrotask without setTimeout's clamp).
  for (let n = 0; n < 3; n++) await new Promise((resolve) => setImmediate(resolve));
  const bound = (session.streamCount + 1) * WINDOW + MAX_FRAME_BYTES;
  assert.ok(session.bufferedBytes <= bound, `session buffers ${session.bufferedBytes} > ${bound} bytes`);
  conn.end();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("session did not end within 2 s")), 2_000);
  });
  try {
    await Promise.race([session.closed, hung]);
    await Promise.race([Promise.all(accepted), hung]);
  } finally {
    clearTimeout(timer);
  }
  const reason = session.closeReason;
  if (isCleanClose(reason)) return "clean";
  // A valid RST on stream 0 ends the session with the peer's code; anything else is a protocol error.
  if (reason instanceof TunnelError && /^Tunnel session reset by peer/.test(reason.message)) return "clean";
  expectProtocolError(reason, "MuxSession");
  return "protocol";
}

/** Reads a stream through its native I/O (pull reads, or a flowing push sink) until it ends or fails. */
function readNative(stream: Conn): void {
  const io = nativeIO(stream);
  if (io?.kind === "pull") {
    const buffer = new Uint8Array(4096);
    const loop = async () => {
      while ((await io.read(buffer)) !== null) { /* discard */ }
    };
    loop().catch(() => {});
  } else if (io?.kind === "push") {
    io.attach({ data() {}, drain() {}, end() {}, close() {} });
    io.resume();
  }
}

test("fuzz: a live MuxSession fed mutated frames ends with a protocol error or a clean close, bounded", async () => {
  const f = new Fuzzer(SEED + 4);
  const outcomes = { clean: 0, protocol: 0 };
  for (let i = 0; i < ITERATIONS / 10; i++) {
    const input = f.random() < 0.1 ? f.bytes(f.int(1024)) : f.mutate(frameScript(f));
    outcomes[await fuzzSession(f, input, f.random() < 0.8 ? "client" : "server")]++;
  }
  // Both kinds of input occur: some survive the mutations, most do not.
  assert.ok(outcomes.clean > ITERATIONS / 1000 && outcomes.protocol > ITERATIONS / 100, JSON.stringify(outcomes));
}, TIMEOUT);

test("fuzz: MuxSessions over real loopback sockets survive garbage", async () => {
  const f = new Fuzzer(SEED + 5);
  for (let i = 0; i < Math.max(10, ITERATIONS / 1000); i++) {
    const [raw, conn] = await tcpPair();
    const session = new MuxSession(conn, { role: "client", protocol: "tcp", flushTimeoutMs: 50 });
    const drained = new Response(raw.readable).arrayBuffer().catch(() => {});
    const writer = raw.writable.getWriter();
    const input = f.random() < 0.3 ? f.bytes(f.int(64 * 1024)) : f.mutate(frameScript(f));
    try {
      for (const chunk of f.chunks(input)) await writer.write(chunk);
    } catch { /* the session closed the connection under us */ }
    await writer.close().catch(() => {});
    await session.closed;
    const reason = session.closeReason;
    if (
      !isCleanClose(reason) && !(reason instanceof TunnelError && /^Tunnel session reset by peer/.test(reason.message))
    ) {
      expectProtocolError(reason, "MuxSession over TCP");
    }
    raw.close();
    await drained;
  }
}, TIMEOUT);
