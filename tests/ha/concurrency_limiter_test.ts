import assert from "node:assert/strict";
import { ConcurrencyLimiter } from "../../ha/concurrency_limiter.ts";
import { LimitExceededError, type Permit } from "../../ha/limiter.ts";
import { test } from "../_util/test.ts";

/** Lets pending promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Starts `acquire()` and records when it settles. */
function track(promise: Promise<Permit>) {
  const state: { permit?: Permit; error?: unknown } = {};
  promise.then((permit) => state.permit = permit, (error) => state.error = error);
  return state;
}

test("ConcurrencyLimiter grants permits in FIFO order, handing each released slot to the longest waiter", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1 });
  const holder = await limiter.acquire();
  const order: number[] = [];
  const waiters = [1, 2, 3].map((n) =>
    limiter.acquire().then((permit) => {
      order.push(n);
      return permit;
    })
  );
  assert.deepEqual([limiter.active, limiter.waiting], [1, 3]);
  holder.release();
  const first = await waiters[0];
  assert.equal(limiter.tryAcquire(), undefined); // the slot went to the waiter; no overtaking
  assert.deepEqual([limiter.active, limiter.waiting], [1, 2]);
  first.release();
  (await waiters[1]).release();
  (await waiters[2]).release();
  assert.deepEqual(order, [1, 2, 3]);
  assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
});

test("ConcurrencyLimiter removes an aborted waiter from the queue and rejects it with the reason", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1 });
  const holder = limiter.tryAcquire()!;
  const controller = new AbortController();
  const aborted = track(limiter.acquire({ signal: controller.signal }));
  const next = track(limiter.acquire());
  assert.equal(limiter.waiting, 2);
  const reason = new Error("client went away");
  controller.abort(reason);
  assert.equal(limiter.waiting, 1);
  await flush();
  assert.equal(aborted.error, reason);
  holder.release();
  await flush();
  assert.ok(next.permit); // the slot skipped the aborted waiter
  assert.equal(aborted.permit, undefined);
  next.permit.release();
  assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
});

test("ConcurrencyLimiter.acquire() with an aborted signal rejects without queueing or taking a slot", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1 });
  const reason = new Error("stopped");
  await assert.rejects(limiter.acquire({ signal: AbortSignal.abort(reason) }), (error) => error === reason);
  assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
});

test("ConcurrencyLimiter ignores an abort after the permit was granted", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1 });
  const holder = limiter.tryAcquire()!;
  const controller = new AbortController();
  const waiter = limiter.acquire({ signal: controller.signal });
  holder.release();
  const permit = await waiter;
  controller.abort(new Error("too late"));
  assert.equal(limiter.active, 1);
  permit.release();
  assert.equal(limiter.active, 0);
});

test("ConcurrencyLimiter permits release once: a double release grants no extra slot", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1 });
  const first = limiter.tryAcquire()!;
  const second = track(limiter.acquire());
  const third = track(limiter.acquire());
  first.release();
  first.release(); // must not also wake `third`
  await flush();
  assert.ok(second.permit);
  assert.equal(third.permit, undefined);
  assert.deepEqual([limiter.active, limiter.waiting], [1, 1]);
  {
    using _disposed = second.permit; // release, then dispose: still one release
    second.permit.release();
  }
  await flush();
  const late = third.permit as Permit | undefined; // (the check above narrowed `third.permit`)
  assert.ok(late);
  late.release();
  late.release();
  assert.equal(limiter.active, 0);
  assert.ok(limiter.tryAcquire());
});

test("ConcurrencyLimiter refuses a waiter beyond maxWaiting with LimitExceededError", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1, maxWaiting: 1 });
  const holder = limiter.tryAcquire()!;
  const waiting = limiter.acquire();
  await assert.rejects(limiter.acquire(), (error) => {
    assert.ok(error instanceof LimitExceededError);
    assert.equal(error.scope, "queue");
    assert.equal(error.limit, 1);
    assert.equal(error.message, "Cannot wait for a permit: the limit of 1 waiting callers is reached");
    return true;
  });
  assert.equal(limiter.tryAcquire(), undefined);
  assert.equal(limiter.rejected, 2);
  holder.release();
  (await waiting).release();
});

test("ConcurrencyLimiter with maxWaiting 0 never queues", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 2, maxWaiting: 0 });
  using _a = await limiter.acquire();
  using _b = await limiter.acquire();
  await assert.rejects(limiter.acquire(), {
    message: "Cannot wait for a permit: the limit of 0 waiting callers is reached",
  });
  assert.equal(limiter.waiting, 0);
});

test("ConcurrencyLimiter rejects out-of-range limits with std-style messages", () => {
  assert.throws(() => new ConcurrencyLimiter({ maxConcurrent: 0 }), {
    name: "RangeError",
    message: "Cannot create ConcurrencyLimiter as 'maxConcurrent' must be a positive integer: current value is 0",
  });
  assert.throws(() => new ConcurrencyLimiter({ maxConcurrent: Infinity }), {
    name: "RangeError",
    message:
      "Cannot create ConcurrencyLimiter as 'maxConcurrent' must be a positive integer: current value is Infinity",
  });
  assert.throws(() => new ConcurrencyLimiter({ maxConcurrent: 1, maxWaiting: -1 }), {
    name: "RangeError",
    message:
      "Cannot create ConcurrencyLimiter as 'maxWaiting' must be a non-negative integer or Infinity: current value is -1",
  });
});
