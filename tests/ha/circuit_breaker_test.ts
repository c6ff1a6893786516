import assert from "node:assert/strict";
import { CircuitBreaker, type CircuitBreakerOptions, CircuitOpenError } from "../../ha/circuit_breaker.ts";
import { test } from "../_util/test.ts";

/** A breaker on a manual clock that records its state changes. */
function setup(options: CircuitBreakerOptions = {}) {
  const clock = { now: 1_000 };
  const changes: string[] = [];
  const breaker = new CircuitBreaker({
    cooldownMs: 1_000,
    onStateChange: (from, to) => changes.push(`${from}->${to}`),
    now: () => clock.now,
    ...options,
  });
  return { clock, changes, breaker };
}

const fail = () => Promise.reject(new Error("refused"));
const ok = () => Promise.resolve("ok");

async function failTimes(breaker: CircuitBreaker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await assert.rejects(breaker.execute(fail), { message: "refused" });
}

/** Lets pending promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** A deferred result, settled by the test. */
function deferred<T>() {
  return Promise.withResolvers<T>();
}

test("CircuitBreaker rejects out-of-range options with std-style messages", () => {
  const cases: [keyof CircuitBreakerOptions, number][] = [
    ["failureThreshold", 0],
    ["successThreshold", -1],
    ["cooldownMs", 0],
    ["halfOpenMaxProbes", 1.5],
    ["failureThreshold", NaN],
  ];
  for (const [name, value] of cases) {
    assert.throws(() => new CircuitBreaker({ [name]: value }), {
      name: "RangeError",
      message: `Cannot create CircuitBreaker as '${name}' must be a positive integer: current value is ${value}`,
    });
  }
});

test("CircuitBreaker opens after failureThreshold consecutive failures (default 5); a success resets the count", async () => {
  const { breaker, changes } = setup({ cooldownMs: undefined });
  await failTimes(breaker, 4);
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.stats().consecutiveFailures, 0);
  await failTimes(breaker, 4);
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.stats().consecutiveFailures, 4);
  await failTimes(breaker, 1);
  assert.equal(breaker.state, "open");
  assert.deepEqual(changes, ["closed->open"]);
});

test("CircuitBreaker.execute() rejects with CircuitOpenError and the remaining cooldown while open", async () => {
  const { breaker, clock } = setup({ failureThreshold: 1, cooldownMs: 30_000 });
  await failTimes(breaker, 1);
  clock.now += 28_766;
  let called = false;
  await assert.rejects(
    breaker.execute(() => {
      called = true;
    }),
    (error) => {
      assert.ok(error instanceof CircuitOpenError);
      assert.equal(error.name, "CircuitOpenError");
      assert.equal(error.message, "Cannot run: the circuit is open for 1234 more ms");
      assert.equal(error.remainingCooldownMs, 1234);
      return true;
    },
  );
  assert.equal(called, false);
  clock.now += 0.5; // fractional clocks round the remaining time up
  await assert.rejects(breaker.execute(ok), { message: "Cannot run: the circuit is open for 1234 more ms" });
  assert.equal(breaker.stats().rejected, 2);
});

test("CircuitBreaker goes open -> half_open after cooldownMs and closes after successThreshold probes", async () => {
  const { breaker, clock, changes } = setup({ failureThreshold: 2 });
  await failTimes(breaker, 2);
  assert.equal(breaker.stats().lastStateChangeAt, 1_000);
  clock.now = 1_999;
  assert.equal(breaker.state, "open");
  clock.now = 2_000;
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.stats().lastStateChangeAt, 2_000);
  clock.now = 2_500;
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.state, "half_open"); // successThreshold defaults to 2
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.state, "closed");
  assert.deepEqual(changes, ["closed->open", "open->half_open", "half_open->closed"]);
  assert.deepEqual(breaker.stats(), {
    state: "closed",
    failures: 2,
    successes: 2,
    rejected: 0,
    consecutiveFailures: 0,
    lastStateChangeAt: 2_500,
  });
});

test("CircuitBreaker reopens for a fresh cooldown when a probe fails", async () => {
  const { breaker, clock, changes } = setup({ failureThreshold: 1 });
  await failTimes(breaker, 1);
  clock.now = 2_000;
  assert.equal(await breaker.execute(ok), "ok"); // one success of two
  clock.now = 2_100;
  await failTimes(breaker, 1);
  assert.equal(breaker.state, "open");
  await assert.rejects(breaker.execute(ok), { message: "Cannot run: the circuit is open for 1000 more ms" });
  clock.now = 3_100;
  assert.equal(breaker.state, "half_open");
  assert.deepEqual(changes, ["closed->open", "open->half_open", "half_open->open", "open->half_open"]);
});

test("CircuitBreaker lets at most halfOpenMaxProbes probes run at once", async () => {
  const { breaker, clock } = setup({ failureThreshold: 1, halfOpenMaxProbes: 2, successThreshold: 3 });
  await failTimes(breaker, 1);
  clock.now = 2_000;
  const first = deferred<string>();
  const second = deferred<string>();
  const probes = [breaker.execute(() => first.promise), breaker.execute(() => second.promise)];
  await assert.rejects(breaker.execute(ok), (error) => {
    assert.ok(error instanceof CircuitOpenError);
    assert.equal(error.message, "Cannot run: the circuit is half-open with 2 of 2 probes in flight");
    assert.equal(error.remainingCooldownMs, 0);
    return true;
  });
  first.resolve("a");
  assert.equal(await probes[0], "a");
  assert.equal(await breaker.execute(ok), "ok"); // the freed slot takes a new probe
  second.resolve("b");
  assert.equal(await probes[1], "b");
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.stats().rejected, 1);
});

test("CircuitBreaker counts a probe that hangs until its signal aborts as failed and frees its slot", async () => {
  const { breaker, clock, changes } = setup({ failureThreshold: 1 });
  await failTimes(breaker, 1);
  clock.now = 2_000;
  const hung = deferred<string>();
  const controller = new AbortController();
  let seen: AbortSignal | undefined;
  const probe = breaker.execute(({ signal }) => {
    seen = signal;
    return hung.promise;
  }, { signal: controller.signal });
  assert.equal(seen, controller.signal);
  await assert.rejects(breaker.execute(ok), {
    message: "Cannot run: the circuit is half-open with 1 of 1 probes in flight",
  });
  const reason = new Error("dial deadline");
  controller.abort(reason);
  await assert.rejects(probe, (error) => error === reason);
  assert.equal(breaker.state, "open");
  assert.deepEqual(changes, ["closed->open", "open->half_open", "half_open->open"]);
  hung.resolve("late"); // a late result changes nothing
  await flush();
  assert.equal(breaker.state, "open");
  clock.now = 3_000;
  assert.equal(await breaker.execute(ok), "ok"); // the slot was freed
  assert.equal(breaker.stats().failures, 2);
});

test("CircuitBreaker reclaims a probe without a signal that runs for cooldownMs, counting it failed once", async () => {
  const { breaker, clock, changes } = setup({ failureThreshold: 1, successThreshold: 1 });
  await failTimes(breaker, 1);
  clock.now = 2_000;
  const hung = deferred<string>();
  const probe = breaker.execute(() => hung.promise);
  clock.now = 2_999;
  assert.equal(breaker.state, "half_open");
  clock.now = 3_000;
  assert.equal(breaker.state, "open"); // the probe hung for a whole cooldown
  assert.equal(breaker.stats().lastStateChangeAt, 3_000);
  await assert.rejects(breaker.execute(ok), { message: "Cannot run: the circuit is open for 1000 more ms" });
  hung.reject(new Error("finally failed"));
  await assert.rejects(probe, { message: "finally failed" });
  assert.equal(breaker.stats().failures, 2); // the first failure and the reclaimed probe
  clock.now = 4_000;
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.state, "closed");
  assert.deepEqual(changes, [
    "closed->open",
    "open->half_open",
    "half_open->open",
    "open->half_open",
    "half_open->closed",
  ]);
});

test("CircuitBreaker reclaims a stale probe and half-opens again when a whole cooldown has passed since", async () => {
  const { breaker, clock, changes } = setup({ failureThreshold: 1 });
  await failTimes(breaker, 1);
  clock.now = 2_000;
  void breaker.execute(() => new Promise<never>(() => {}));
  clock.now = 10_000;
  assert.equal(breaker.state, "half_open");
  assert.deepEqual(changes, ["closed->open", "open->half_open", "half_open->open", "open->half_open"]);
  assert.equal(breaker.stats().lastStateChangeAt, 4_000); // stale at 3_000, cooldown over at 4_000
});

test("CircuitBreaker ignores outcomes of calls admitted before a state change", async () => {
  const { breaker, clock } = setup({ failureThreshold: 2, successThreshold: 1 });
  const slow = deferred<string>();
  const early = breaker.execute(() => slow.promise);
  await failTimes(breaker, 2);
  assert.equal(breaker.state, "open");
  slow.resolve("late");
  assert.equal(await early, "late");
  assert.equal(breaker.state, "open"); // a success from the closed era does not close it
  assert.equal(breaker.stats().successes, 1);
  clock.now = 2_000;
  assert.equal(breaker.state, "half_open");
});

test("CircuitBreaker passes errors isFailure rejects through without counting them", async () => {
  const ignored = new Error("bad request");
  const { breaker, clock } = setup({ failureThreshold: 1, isFailure: (error) => error !== ignored });
  await assert.rejects(breaker.execute(() => Promise.reject(ignored)), (error) => error === ignored);
  assert.equal(breaker.state, "closed");
  assert.deepEqual([breaker.stats().failures, breaker.stats().successes], [0, 0]);
  await failTimes(breaker, 1);
  clock.now = 2_000;
  // In half_open, an ignored error frees the probe slot and moves nothing.
  await assert.rejects(breaker.execute(() => Promise.reject(ignored)), (error) => error === ignored);
  assert.equal(breaker.state, "half_open");
  assert.equal(await breaker.execute(ok), "ok");
});

test("CircuitBreaker counts an error as a failure when isFailure throws", async () => {
  const { breaker } = setup({
    failureThreshold: 1,
    isFailure: () => {
      throw new Error("predicate bug");
    },
  });
  await failTimes(breaker, 1);
  assert.equal(breaker.state, "open");
});

test("CircuitBreaker keeps working when onStateChange throws", async () => {
  let calls = 0;
  const { breaker, clock } = setup({
    failureThreshold: 1,
    successThreshold: 1,
    onStateChange: () => {
      calls++;
      throw new Error("observer bug");
    },
  });
  await failTimes(breaker, 1);
  assert.equal(breaker.state, "open");
  clock.now = 2_000;
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.state, "closed");
  assert.equal(calls, 3);
});

test("CircuitBreaker.execute() runs synchronous functions and counts synchronous throws", async () => {
  const { breaker } = setup({ failureThreshold: 1 });
  assert.equal(await breaker.execute(() => 7), 7);
  await assert.rejects(
    breaker.execute(() => {
      throw new Error("sync");
    }),
    { message: "sync" },
  );
  assert.equal(breaker.state, "open");
});

test("CircuitBreaker.execute() with an aborted signal rejects with its reason and runs nothing", async () => {
  const { breaker } = setup({ failureThreshold: 1 });
  const reason = new Error("shutting down");
  let called = false;
  await assert.rejects(
    breaker.execute(() => {
      called = true;
    }, { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  assert.equal(called, false);
  assert.deepEqual(breaker.stats(), {
    state: "closed",
    failures: 0,
    successes: 0,
    rejected: 0,
    consecutiveFailures: 0,
    lastStateChangeAt: 1_000,
  });
});

test("CircuitBreaker.reset() closes, zeroes the counters and ignores calls in flight", async () => {
  const { breaker, clock, changes } = setup({ failureThreshold: 1 });
  await failTimes(breaker, 1);
  clock.now = 2_000;
  const probe = deferred<string>();
  const pending = breaker.execute(() => probe.promise);
  clock.now = 2_100;
  breaker.reset();
  assert.deepEqual(breaker.stats(), {
    state: "closed",
    failures: 0,
    successes: 0,
    rejected: 0,
    consecutiveFailures: 0,
    lastStateChangeAt: 2_100,
  });
  probe.reject(new Error("old probe"));
  await assert.rejects(pending, { message: "old probe" });
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.stats().consecutiveFailures, 0);
  assert.deepEqual(changes, ["closed->open", "open->half_open", "half_open->closed"]);
  breaker.reset(); // already closed: no notification
  assert.equal(changes.length, 3);
});

test("CircuitBreaker restarts the cooldown when the clock goes back", async () => {
  const { breaker, clock } = setup({ failureThreshold: 1 });
  await failTimes(breaker, 1);
  clock.now = 500;
  await assert.rejects(breaker.execute(ok), { message: "Cannot run: the circuit is open for 1000 more ms" });
  clock.now = 1_499;
  assert.equal(breaker.state, "open");
  clock.now = 1_500;
  assert.equal(breaker.state, "half_open");
});
