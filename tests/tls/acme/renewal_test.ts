/** The renewal schedule on an injected clock: due times, backoff, replacement and cancellation. */
import assert from "node:assert/strict";
import { backoffDelay, RenewalScheduler, renewalTime } from "../../../tls/mod.ts";
import { test } from "../../_util/test.ts";
import { FakeClock } from "./_fake_clock.ts";

const DAY = 86_400_000;

test("renewalTime() is two thirds into the lifetime by default and validates the fraction", () => {
  assert.equal(renewalTime(0, 90 * DAY), 60 * DAY);
  assert.equal(renewalTime(1_000, 1_000 + 3_000), 3_000);
  assert.equal(renewalTime(0, 100, 0.5), 50);
  assert.throws(() => renewalTime(0, 100, 0), {
    name: "RangeError",
    message: "Cannot compute a renewal time as 'fraction' must be in (0, 1]: current value is 0",
  });
});

test("backoffDelay() doubles from the initial delay up to the cap", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n)), [
    60_000,
    120_000,
    240_000,
    480_000,
    960_000,
    1_920_000,
    3_600_000,
  ]);
  assert.equal(backoffDelay(3, { initialDelayMs: 10, multiplier: 3, maxDelayMs: 1_000 }), 90);
});

test("RenewalScheduler runs a task at its time, not before", async () => {
  const clock = new FakeClock();
  const scheduler = new RenewalScheduler({ clock });
  const runs: number[] = [];
  scheduler.schedule("a", clock.now() + 5_000, () => Promise.resolve(void runs.push(clock.now())));
  assert.equal(scheduler.nextRun("a"), clock.now() + 5_000);
  await clock.advance(4_999);
  assert.deepEqual(runs, []);
  await clock.advance(1);
  assert.deepEqual(runs, [1_005_000]);
  assert.equal(scheduler.nextRun("a"), undefined, "done once it resolves");
  assert.equal(clock.pending, 0);
  await scheduler.close();
});

test("RenewalScheduler retries a failing task with exponential backoff and reports each failure", async () => {
  const clock = new FakeClock();
  const retries: [string, string, number, number][] = [];
  const scheduler = new RenewalScheduler({
    clock,
    initialDelayMs: 1_000,
    maxDelayMs: 4_000,
    onRetry: (key, error, attempt, delayMs) => retries.push([key, (error as Error).message, attempt, delayMs]),
  });
  const runs: number[] = [];
  let failUntil = 4;
  scheduler.schedule("a", clock.now(), () => {
    runs.push(clock.now() - 1_000_000);
    return runs.length <= failUntil ? Promise.reject(new Error(`boom ${runs.length}`)) : Promise.resolve();
  });
  await clock.advance(0);
  assert.equal(scheduler.failures("a"), 1);
  assert.equal(scheduler.nextRun("a"), clock.now() + 1_000);
  await clock.advance(1_000 + 2_000 + 4_000 + 4_000);
  assert.deepEqual(runs, [0, 1_000, 3_000, 7_000, 11_000]);
  assert.deepEqual(retries, [
    ["a", "boom 1", 1, 1_000],
    ["a", "boom 2", 2, 2_000],
    ["a", "boom 3", 3, 4_000],
    ["a", "boom 4", 4, 4_000],
  ]);
  assert.equal(scheduler.nextRun("a"), undefined);
  failUntil = 0;
  await scheduler.close();
});

test("RenewalScheduler keeps a schedule made while the task runs, and cancel() aborts the task", async () => {
  const clock = new FakeClock();
  const scheduler = new RenewalScheduler({ clock });
  const runs: string[] = [];
  const renew = (): Promise<void> => {
    runs.push(`renew@${clock.now() - 1_000_000}`);
    scheduler.schedule("a", clock.now() + 10_000, renew); // the next renewal
    return Promise.resolve();
  };
  scheduler.schedule("a", clock.now() + 100, renew);
  await clock.advance(100);
  assert.equal(scheduler.nextRun("a"), clock.now() + 10_000);
  await clock.advance(10_000);
  assert.deepEqual(runs, ["renew@100", "renew@10100"]);

  // Replacing a schedule moves it; cancel() stops it and aborts a running task.
  scheduler.schedule("a", clock.now() + 50, renew);
  assert.equal(scheduler.nextRun("a"), clock.now() + 50);
  scheduler.cancel("a");
  await clock.advance(100);
  assert.equal(runs.length, 2);
  let seen: AbortSignal | undefined;
  const { promise: hold, resolve: release } = Promise.withResolvers<void>();
  scheduler.schedule("b", clock.now(), async (signal) => {
    seen = signal;
    await hold;
  });
  await clock.advance(0);
  assert.equal(seen?.aborted, false);
  scheduler.cancel("b");
  assert.equal(seen?.aborted, true);
  release();
  await scheduler.close();
  assert.equal(clock.pending, 0);
});

test("RenewalScheduler never runs one key twice at once and close() waits for running tasks", async () => {
  const clock = new FakeClock();
  const scheduler = new RenewalScheduler({ clock });
  let running = 0;
  let most = 0;
  let finished = false;
  const { promise: hold, resolve: release } = Promise.withResolvers<void>();
  const task = async () => {
    running++;
    most = Math.max(most, running);
    await hold;
    running--;
    finished = true;
  };
  scheduler.schedule("a", clock.now(), task);
  await clock.advance(0);
  scheduler.schedule("a", clock.now(), task); // runs after the first run ends
  await clock.advance(10);
  assert.equal(most, 1);
  const closing = scheduler.close();
  release();
  await closing;
  assert.equal(finished, true);
  assert.equal(most, 1);
  scheduler.schedule("a", clock.now(), task); // ignored once closed
  assert.equal(clock.pending, 0);
});

test("RenewalScheduler validates its backoff options", () => {
  assert.throws(() => new RenewalScheduler({ initialDelayMs: 0 }), {
    name: "RangeError",
    message: "Cannot create scheduler as 'initialDelayMs' must be positive: current value is 0",
  });
  assert.throws(() => new RenewalScheduler({ multiplier: 0.5 }), RangeError);
});

test("RenewalScheduler waits past the 32-bit timer limit by chaining timers", async () => {
  const clock = new FakeClock();
  const scheduler = new RenewalScheduler({ clock });
  const at = clock.now() + 60 * DAY; // > 2^31 - 1 ms (24.8 days)
  let ran = 0;
  scheduler.schedule("a", at, () => Promise.resolve(void ran++));
  await clock.advance(30 * DAY);
  assert.equal(ran, 0);
  assert.equal(scheduler.nextRun("a"), at);
  await clock.advance(30 * DAY);
  assert.equal(ran, 1);
  await scheduler.close();
});
