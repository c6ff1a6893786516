import assert from "node:assert/strict";
import { IdleWatch, type IntervalTimer } from "../../forward/idle_watch.ts";
import { test } from "../_util/test.ts";

/** A timer driven by hand: `advance(ms)` fires every due tick in order. */
function manualTimer() {
  let now = 0;
  let timer: { fn: () => void; ms: number; next: number } | undefined;
  const api: IntervalTimer & { advance(ms: number): void; readonly active: boolean } = {
    setInterval(fn, ms) {
      timer = { fn, ms, next: now + ms };
      return 1;
    },
    clearInterval() {
      timer = undefined;
    },
    advance(ms: number) {
      const until = now + ms;
      while (timer && timer.next <= until) {
        now = timer.next;
        timer.next += timer.ms;
        timer.fn();
      }
      now = until;
    },
    get active() {
      return timer !== undefined;
    },
  };
  return api;
}

test("IdleWatch reports a quiet pair idle between 1x and 1.25x the timeout, once", () => {
  const timer = manualTimer();
  const counters = { aToB: 0, bToA: 0, pauses: 0 };
  let idle = 0;
  new IdleWatch(counters, 1000, () => idle++, timer);
  timer.advance(999);
  assert.equal(idle, 0);
  timer.advance(251);
  assert.equal(idle, 1);
  assert.equal(timer.active, false, "the timer is cleared once idle was reported");
  timer.advance(10_000);
  assert.equal(idle, 1);
});

test("IdleWatch restarts the quiet period whenever a byte moves", () => {
  const timer = manualTimer();
  const counters = { aToB: 0, bToA: 0, pauses: 0 };
  let idle = 0;
  new IdleWatch(counters, 1000, () => idle++, timer);
  for (let i = 0; i < 10; i++) {
    timer.advance(750);
    if (i % 2 === 0) counters.aToB += 1;
    else counters.bToA += 1;
  }
  assert.equal(idle, 0, "a pair with a byte every 750 ms is not idle");
  timer.advance(1250);
  assert.equal(idle, 1);
});

test("IdleWatch.stop() cancels the watch, and a non-positive timeout is refused", () => {
  const timer = manualTimer();
  let idle = 0;
  const watch = new IdleWatch({ aToB: 0, bToA: 0, pauses: 0 }, 100, () => idle++, timer);
  watch.stop();
  watch.stop();
  timer.advance(1000);
  assert.equal(idle, 0);
  assert.throws(
    () => new IdleWatch({ aToB: 0, bToA: 0, pauses: 0 }, 0, () => {}, timer),
    new RangeError("Cannot watch for idleness as 'idleTimeoutMs' must be positive: current value is 0"),
  );
});
