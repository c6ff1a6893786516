/**
 * Internal: web streams layered over a conn's native I/O, created only when someone asks for them.
 * @module
 */
import type { PullIO, PushIO } from "./_native_io.ts";

/** Size of each read a pull-backed readable stream makes. */
const PULL_CHUNK_BYTES = 16 * 1024;
/** Bytes a push-backed readable stream queues before it pauses the socket. */
const PUSH_HIGH_WATER_BYTES = 64 * 1024;

/** A readable stream over pull I/O: one `read` per `pull`, nothing read ahead. */
export function pullReadable(io: PullIO, onCancel: () => void): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buffer = new Uint8Array(PULL_CHUNK_BYTES);
      const n = await io.read(buffer);
      if (n === null) controller.close();
      else controller.enqueue(buffer.subarray(0, n));
    },
    cancel: onCancel,
  }, { highWaterMark: 0 });
}

/** A writable stream over pull I/O; `close()` half-closes. */
export function pullWritable(io: PullIO): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      for (let off = 0; off < chunk.byteLength;) off += await io.write(chunk.subarray(off));
    },
    close: () => io.closeWrite(),
  });
}

/** Readable and writable streams over push I/O, sharing the one sink the socket allows. */
export function pushStreams(io: PushIO, onCancel: () => void, closedError: () => Error): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
} {
  let drained: PromiseWithResolvers<void> | undefined;
  let failure: unknown;
  let isClosed = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let readableDone = false;
  const settleDrain = () => {
    const waiter = drained;
    drained = undefined;
    waiter?.resolve();
  };
  io.attach({
    data(chunk) {
      if (readableDone) return;
      controller.enqueue(chunk.slice());
      if ((controller.desiredSize ?? 0) <= 0) io.pause();
    },
    drain: settleDrain,
    end() {
      if (readableDone) return;
      readableDone = true;
      controller.close();
    },
    close(error) {
      isClosed = true;
      failure = error;
      settleDrain();
      if (readableDone) return;
      readableDone = true;
      if (error) controller.error(error);
      else controller.close();
    },
  });
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull() {
      io.resume();
    },
    cancel() {
      readableDone = true;
      onCancel();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: PUSH_HIGH_WATER_BYTES }));
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      for (let off = 0; off < chunk.byteLength;) {
        const n = io.write(chunk.subarray(off));
        if (n < 0 || isClosed) throw failure ?? closedError();
        off += n;
        if (off < chunk.byteLength) {
          drained ??= Promise.withResolvers<void>();
          await drained.promise;
        }
      }
    },
    close: () => io.end(),
  });
  return { readable, writable };
}
