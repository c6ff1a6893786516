import assert from "node:assert/strict";
import { LimitExceededError } from "../../ha/limiter.ts";
import { TokenBucket } from "../../ha/token_bucket.ts";
import { test } from "../_util/test.ts";

function bucket(ratePerSecond: number, burst?: number) {
  const clock = { now: 5_000 };
  return { clock, bucket: new TokenBucket({ ratePerSecond, burst, now: () => clock.now }) };
}

test("TokenBucket starts full and allows a burst, then refuses without taking", () => {
  const { bucket: b } = bucket(10, 3);
  assert.equal(b.tokens, 3);
  assert.equal(b.tryTake(2), true);
  assert.equal(b.tryTake(2), false);
  assert.equal(b.tokens, 1);
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), false);
  assert.equal(b.rejected, 2);
});

test("TokenBucket refills lazily from the clock at ratePerSecond, up to burst", () => {
  const { bucket: b, clock } = bucket(10, 5);
  assert.ok(b.tryTake(5));
  clock.now += 50;
  assert.equal(b.tokens, 0.5);
  assert.equal(b.tryTake(), false);
  clock.now += 50;
  assert.equal(b.tryTake(), true);
  clock.now += 250;
  assert.equal(b.tokens, 2.5);
  clock.now += 60_000;
  assert.equal(b.tokens, 5); // capped at burst
});

test("TokenBucket.msUntil() tells how long until n tokens are there", () => {
  const { bucket: b, clock } = bucket(4, 2);
  assert.equal(b.msUntil(), 0);
  assert.ok(b.tryTake(2));
  assert.equal(b.msUntil(), 250);
  assert.equal(b.msUntil(2), 500);
  assert.equal(b.msUntil(3), Infinity); // more than the bucket can hold
  clock.now += 100;
  assert.equal(b.msUntil(), 150);
  clock.now += 150;
  assert.equal(b.msUntil(), 0);
  assert.ok(b.tryTake());
});

test("TokenBucket neither refills nor drains when the clock goes back", () => {
  const { bucket: b, clock } = bucket(10, 10);
  assert.ok(b.tryTake(10));
  clock.now -= 1_000;
  assert.equal(b.tokens, 0);
  clock.now += 100; // counts from the earlier reading, not the later one
  assert.equal(b.tokens, 1);
});

test("TokenBucket.take() throws LimitExceededError with the wait", () => {
  const { bucket: b } = bucket(100, 1);
  b.take();
  assert.throws(() => b.take(), (error) => {
    assert.ok(error instanceof LimitExceededError);
    assert.equal(error.scope, "rate");
    assert.equal(error.limit, 100);
    assert.equal(error.message, "Cannot take 1 token: the rate limit of 100 per second is reached (next in 10 ms)");
    return true;
  });
  assert.throws(() => b.take(2), {
    message: "Cannot take 2 tokens: the rate limit of 100 per second is reached (it holds at most 1)",
  });
});

test("TokenBucket defaults burst to ratePerSecond rounded up", () => {
  assert.equal(bucket(2.5).bucket.tokens, 3);
  assert.equal(bucket(0.1).bucket.tokens, 1);
});

test("TokenBucket.tryTake(0) always succeeds; bad counts throw RangeError", () => {
  const { bucket: b } = bucket(1, 1);
  assert.ok(b.tryTake(1));
  assert.ok(b.tryTake(0));
  for (const n of [-1, NaN, Infinity]) {
    assert.throws(() => b.tryTake(n), {
      name: "RangeError",
      message: `Cannot take tokens as 'n' must be a non-negative finite number: current value is ${n}`,
    });
  }
});

test("TokenBucket rejects out-of-range options with std-style messages", () => {
  for (const ratePerSecond of [0, -1, Infinity, NaN]) {
    assert.throws(() => new TokenBucket({ ratePerSecond }), {
      name: "RangeError",
      message:
        `Cannot create TokenBucket as 'ratePerSecond' must be a positive finite number: current value is ${ratePerSecond}`,
    });
  }
  assert.throws(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5 }), {
    name: "RangeError",
    message: "Cannot create TokenBucket as 'burst' must be a positive integer: current value is 0.5",
  });
});
