import assert from "node:assert/strict";
import { ByteQueue, MAX_PINNED_BYTES } from "../../../protocols/tunnel/_byte_queue.ts";
import { ReadBufferPool } from "../../../protocols/tunnel/_mux_buffers.ts";
import { test } from "../../_util/test.ts";

test("ReadBufferPool reuses a buffer once the reader and every view released it", () => {
  const pool = new ReadBufferPool(1024, 2);
  const buffer = pool.get();
  buffer.retain(); // a stream keeps a view
  buffer.release(); // the reader moves on
  assert.notEqual(pool.get(), buffer, "a buffer with a view left is not reused");
  buffer.release(); // the view was read out
  assert.equal(pool.get(), buffer);
});

test("ReadBufferPool never reuses a buffer whose view escaped to the application", () => {
  const pool = new ReadBufferPool(1024, 2);
  const buffer = pool.get();
  buffer.retain();
  buffer.escape();
  buffer.release();
  buffer.release();
  assert.notEqual(pool.get(), buffer);
});

test("ByteQueue borrows views of one buffer for the price of one pin, and copies beyond MAX_PINNED_BYTES", () => {
  const pool = new ReadBufferPool(MAX_PINNED_BYTES, 4);
  const queue = new ByteQueue();
  const first = pool.get();
  first.bytes.fill(1);
  for (let i = 0; i < 4; i++) {
    assert.equal(queue.push(first.bytes.subarray(i * 100, (i + 1) * 100), "borrow", first), true);
  }
  const second = pool.get();
  second.bytes.fill(2);
  assert.equal(
    queue.push(second.bytes.subarray(0, 100), "borrow", second),
    false,
    "a second buffer would pass the limit",
  );
  second.bytes.fill(9); // the reader reuses it: the queue holds its own copy
  first.release(); // the reader moved on from the first buffer
  const out = new Uint8Array(500);
  assert.equal(queue.readInto(out), 500);
  assert.deepEqual([out[0], out[399], out[400], out[499]], [1, 1, 2, 2]);
  assert.equal(pool.get(), first, "reading the views out returned the buffer to the pool");
});

test("ByteQueue.take() with keep marks the buffer escaped; clear() releases every view", () => {
  const pool = new ReadBufferPool(1024, 4);
  const queue = new ByteQueue();
  const kept = pool.get();
  queue.push(kept.bytes.subarray(0, 10), "borrow", kept);
  kept.release();
  assert.equal(queue.take(Infinity, true)?.byteLength, 10);
  assert.notEqual(pool.get(), kept);

  const dropped = pool.get();
  queue.push(dropped.bytes.subarray(0, 10), "borrow", dropped);
  queue.push(dropped.bytes.subarray(10, 20), "borrow", dropped);
  dropped.release();
  queue.clear();
  assert.equal(queue.bytes, 0);
  assert.equal(pool.get(), dropped);
});
