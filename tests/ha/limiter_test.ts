import assert from "node:assert/strict";
import {
  CompositeLimiter,
  ConnectionLimiter,
  LimitExceededError,
  MemoryLimiter,
  type Permit,
} from "../../ha/limiter.ts";
import { TokenBucket } from "../../ha/token_bucket.ts";
import { test } from "../_util/test.ts";

function limitError(scope: string, limit: number, message: string) {
  return (error: unknown) => {
    assert.ok(error instanceof LimitExceededError);
    assert.equal(error.name, "LimitExceededError");
    assert.equal(error.scope, scope);
    assert.equal(error.limit, limit);
    assert.equal(error.message, message);
    return true;
  };
}

test("ConnectionLimiter enforces the global and the per-key limit and counts refusals", () => {
  const limiter = new ConnectionLimiter({ maxConnections: 3, maxPerKey: 2 });
  const a1 = limiter.tryAcquire("a");
  const a2 = limiter.tryAcquire("a");
  assert.ok(a1 && a2);
  assert.equal(limiter.tryAcquire("a"), undefined); // per key
  const b1 = limiter.tryAcquire("b");
  assert.ok(b1);
  assert.equal(limiter.tryAcquire("c"), undefined); // global
  assert.deepEqual([limiter.active, limiter.perKey("a"), limiter.perKey("b"), limiter.perKey("c")], [3, 2, 1, 0]);
  assert.equal(limiter.rejected, 2);
  a1.release();
  assert.ok(limiter.tryAcquire("c"));
  assert.equal(limiter.perKey("a"), 1);
});

test("ConnectionLimiter permits release once: a double release cannot free someone else's slot", () => {
  const limiter = new ConnectionLimiter({ maxConnections: 2, maxPerKey: 2 });
  const first = limiter.tryAcquire("ip")!;
  assert.equal(first.released, false);
  first.release();
  first.release();
  first[Symbol.dispose]();
  assert.equal(first.released, true);
  assert.equal(limiter.active, 0);
  assert.equal(limiter.perKey("ip"), 0);
  const second = limiter.tryAcquire("ip")!;
  const third = limiter.tryAcquire("ip")!;
  first.release(); // stale handle: must not free `second` or `third`
  assert.equal(limiter.active, 2);
  assert.equal(limiter.perKey("ip"), 2);
  assert.equal(limiter.tryAcquire("ip"), undefined);
  second.release();
  third.release();
  third.release();
  assert.equal(limiter.active, 0);
});

test("ConnectionLimiter permits are released by `using`, even when the block throws", () => {
  const limiter = new ConnectionLimiter({ maxPerKey: 1 });
  assert.throws(() => {
    using _permit = limiter.tryAcquire("ip");
    assert.equal(limiter.perKey("ip"), 1);
    throw new Error("handler failed");
  }, { message: "handler failed" });
  assert.equal(limiter.active, 0);
  {
    using permit = limiter.tryAcquire("ip");
    permit?.release(); // released early, then disposed: still one release
  }
  assert.equal(limiter.active, 0);
});

test("ConnectionLimiter.acquire() throws LimitExceededError naming the limit", () => {
  const limiter = new ConnectionLimiter({ maxConnections: 2, maxPerKey: 1 });
  using _a = limiter.acquire("10.0.0.1");
  assert.throws(
    () => limiter.acquire("10.0.0.1"),
    limitError(
      "connections_per_key",
      1,
      'Cannot acquire a connection for "10.0.0.1": the limit of 1 connections per key is reached',
    ),
  );
  using _b = limiter.acquire("10.0.0.2");
  assert.throws(
    () => limiter.acquire("10.0.0.3"),
    limitError("connections", 2, "Cannot acquire a connection: the limit of 2 connections is reached"),
  );
  assert.equal(limiter.rejected, 2);
});

test("ConnectionLimiter has no limits by default and forgets idle keys", () => {
  const limiter = new ConnectionLimiter();
  const permits: Permit[] = [];
  for (let i = 0; i < 1_000; i++) permits.push(limiter.tryAcquire(`ip${i % 10}`)!);
  assert.equal(limiter.active, 1_000);
  assert.equal(limiter.perKey("ip3"), 100);
  for (const permit of permits) permit.release();
  assert.equal(limiter.active, 0);
  assert.equal(limiter.perKey("ip3"), 0);
});

test("ConnectionLimiter rejects out-of-range limits with std-style messages", () => {
  assert.throws(() => new ConnectionLimiter({ maxConnections: 0 }), {
    name: "RangeError",
    message:
      "Cannot create ConnectionLimiter as 'maxConnections' must be a positive integer or Infinity: current value is 0",
  });
  assert.throws(() => new ConnectionLimiter({ maxPerKey: 2.5 }), {
    name: "RangeError",
    message:
      "Cannot create ConnectionLimiter as 'maxPerKey' must be a positive integer or Infinity: current value is 2.5",
  });
});

test("MemoryLimiter reserves within its budget and gives bytes back exactly once", () => {
  const memory = new MemoryLimiter({ maxBytes: 1_000 });
  const a = memory.tryReserve(600)!;
  assert.equal(memory.tryReserve(401), undefined);
  const b = memory.tryReserve(400)!;
  assert.deepEqual([memory.used, memory.available, memory.rejected], [1_000, 0, 1]);
  assert.ok(memory.tryReserve(0)); // nothing to reserve always fits
  a.release();
  a.release();
  assert.deepEqual([memory.used, memory.available], [400, 600]);
  b[Symbol.dispose]();
  b.release();
  assert.deepEqual([memory.used, memory.available], [0, 1_000]);
  assert.equal(memory.tryReserve(1_001), undefined);
});

test("MemoryLimiter.reserve() throws LimitExceededError; bad sizes throw RangeError", () => {
  const memory = new MemoryLimiter({ maxBytes: 65_536 });
  using _held = memory.reserve(64_512);
  assert.throws(
    () => memory.reserve(4_096),
    limitError("memory", 65_536, "Cannot reserve 4096 bytes: only 1024 of 65536 bytes are free"),
  );
  for (const bytes of [-1, 1.5, NaN]) {
    assert.throws(() => memory.tryReserve(bytes), {
      name: "RangeError",
      message: `Cannot reserve memory as 'bytes' must be a non-negative integer: current value is ${bytes}`,
    });
  }
  assert.throws(() => new MemoryLimiter({ maxBytes: 0 }), {
    name: "RangeError",
    message: "Cannot create MemoryLimiter as 'maxBytes' must be a positive integer: current value is 0",
  });
});

test("CompositeLimiter takes all or nothing and releases what it took in reverse order", () => {
  const log: string[] = [];
  const step = (name: string, grant: boolean) => () => {
    log.push(`take ${name}`);
    if (!grant) return undefined;
    let released = false;
    return {
      get released() {
        return released;
      },
      release() {
        if (released) return;
        released = true;
        log.push(`release ${name}`);
      },
      [Symbol.dispose]() {
        this.release();
      },
    } satisfies Permit;
  };
  const refused = new CompositeLimiter([step("a", true), step("b", true), step("c", false), step("d", true)]);
  assert.equal(refused.tryAcquire(), undefined);
  assert.deepEqual(log, ["take a", "take b", "take c", "release b", "release a"]);
  assert.equal(refused.rejected, 1);

  log.length = 0;
  const granted = new CompositeLimiter([step("a", true), () => true, step("b", true)]);
  const permit = granted.tryAcquire()!;
  assert.equal(permit.released, false);
  permit.release();
  permit.release();
  assert.equal(permit.released, true);
  assert.deepEqual(log, ["take a", "take b", "release b", "release a"]);
});

test("CompositeLimiter rolls back and rethrows when a step throws", () => {
  const connections = new ConnectionLimiter({ maxPerKey: 5 });
  const memory = new MemoryLimiter({ maxBytes: 100 });
  const admit = new CompositeLimiter<string>([
    (ip) => connections.acquire(ip),
    () => memory.reserve(80),
  ]);
  const first = admit.tryAcquire("ip")!;
  assert.throws(
    () => admit.tryAcquire("ip"),
    limitError("memory", 100, "Cannot reserve 80 bytes: only 20 of 100 bytes are free"),
  );
  assert.equal(connections.perKey("ip"), 1); // the second connection slot was given back
  assert.equal(admit.rejected, 1);
  first.release();
  assert.deepEqual([connections.active, memory.used], [0, 0]);
});

test("CompositeLimiter with a TokenBucket step last spends tokens only when every other step agreed", () => {
  let now = 0;
  const connections = new ConnectionLimiter({ maxPerKey: 1 });
  const rate = new TokenBucket({ ratePerSecond: 1, burst: 2, now: () => now });
  const admit = new CompositeLimiter<string>([(ip) => connections.tryAcquire(ip), () => rate.tryTake()]);
  const first = admit.tryAcquire("a");
  assert.ok(first);
  assert.equal(admit.tryAcquire("a"), undefined); // per-key limit: no token spent
  assert.equal(rate.tokens, 1);
  assert.ok(admit.tryAcquire("b"));
  assert.equal(admit.tryAcquire("c"), undefined); // no token: the slot for "c" is given back
  assert.equal(connections.perKey("c"), 0);
  now = 1_000;
  assert.ok(admit.tryAcquire("c"));
});
