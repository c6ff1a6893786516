import assert from "node:assert/strict";
import { retry, RetryError, type RetryOptions } from "../../ha/retry.ts";
import { test } from "../_util/test.ts";

/** Options that record each delay instead of waiting, with an optional fixed sequence of random draws. */
function recording(draws: number[] = [], options: RetryOptions = {}) {
  const delays: number[] = [];
  let i = 0;
  return {
    delays,
    options: {
      sleep: (ms: number) => {
        delays.push(ms);
        return Promise.resolve();
      },
      random: draws.length ? () => draws[i++ % draws.length] : undefined,
      ...options,
    } satisfies RetryOptions,
  };
}

/** Records the timers started through `setTimeout` until `restore()`, and which are still pending. */
function watchTimers() {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const live = new Map<unknown, number>();
  const started: number[] = [];
  globalThis.setTimeout = ((fn: () => void, ms = 0) => {
    const id = realSet(() => {
      live.delete(id);
      fn();
    }, ms);
    live.set(id, ms);
    started.push(ms);
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id: Parameters<typeof clearTimeout>[0]) => {
    live.delete(id);
    realClear(id);
  }) as typeof clearTimeout;
  return {
    started,
    pending: () => [...live.values()],
    restore() {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}

/** An operation that fails `failures` times, then returns "done". */
function flaky(failures: number) {
  const attempts: number[] = [];
  const fn = ({ attempt }: { attempt: number }) => {
    attempts.push(attempt);
    if (attempts.length <= failures) return Promise.reject(new Error(`failure ${attempts.length}`));
    return Promise.resolve("done");
  };
  return { fn, attempts };
}

test("retry() returns the first result without waiting", async () => {
  const { delays, options } = recording();
  assert.equal(await retry(() => 42, options), 42);
  assert.deepEqual(delays, []);
});

test("retry() retries until success, telling each attempt its number and the signal", async () => {
  const { delays, options } = recording([0.5]);
  const signal = new AbortController().signal;
  const seen: [number, AbortSignal | undefined][] = [];
  const result = await retry(({ attempt, signal }) => {
    seen.push([attempt, signal]);
    if (attempt < 3) throw new Error("not yet");
    return "done";
  }, { ...options, signal });
  assert.equal(result, "done");
  assert.deepEqual(seen, [[1, signal], [2, signal], [3, signal]]);
  assert.deepEqual(delays, [50, 100]); // cap(n) × (1 − 1 × 0.5), caps 100 and 200
});

test("retry() waits cap(n) × (1 − jitter × random()) before retry n", async () => {
  // random() = 0 gives the cap itself; random() near 1 gives nearly (1 − jitter) × cap.
  const full = recording([0, 0.75, 0.999], { maxAttempts: 4 });
  await assert.rejects(retry(flaky(10).fn, full.options), RetryError);
  assert.deepEqual(full.delays, [100, 200 * 0.25, 400 * (1 - 0.999)]);

  const half = recording([0, 1 - 2 ** -20], { maxAttempts: 3, jitter: 0.5, initialDelayMs: 1_000 });
  await assert.rejects(retry(flaky(10).fn, half.options), RetryError);
  assert.equal(half.delays[0], 1_000);
  assert.equal(half.delays[1], 2_000 * (1 - 0.5 * (1 - 2 ** -20)));
});

test("retry() keeps every default delay within (0, cap(n)] with Math.random", async () => {
  for (let round = 0; round < 50; round++) {
    const { delays, options } = recording();
    await assert.rejects(retry(flaky(10).fn, options), RetryError);
    assert.equal(delays.length, 4);
    delays.forEach((ms, i) => {
      const cap = 100 * 2 ** i;
      assert.ok(ms > 0 && ms <= cap, `retry ${i + 1} waited ${ms} ms, outside (0, ${cap}]`);
    });
  }
});

test("retry() with jitter 0 grows the delay by multiplier up to maxDelayMs", async () => {
  const { delays, options } = recording([], {
    maxAttempts: 6,
    initialDelayMs: 100,
    multiplier: 10,
    maxDelayMs: 2_500,
    jitter: 0,
  });
  await assert.rejects(retry(flaky(10).fn, options), RetryError);
  assert.deepEqual(delays, [100, 1_000, 2_500, 2_500, 2_500]);
});

test("retry() never overflows the cap with many attempts", async () => {
  const { delays, options } = recording([], { maxAttempts: 2_000, initialDelayMs: 0, maxDelayMs: 0, jitter: 0 });
  await assert.rejects(retry(flaky(5_000).fn, options), RetryError);
  assert.ok(delays.every((ms) => ms === 0));
  const big = recording([], { maxAttempts: 1_500, jitter: 0 });
  await assert.rejects(retry(flaky(5_000).fn, big.options), RetryError);
  assert.equal(big.delays.at(-1), 10_000);
});

test("retry() throws RetryError with the attempt count and the last error after maxAttempts", async () => {
  const { delays, options } = recording([0]);
  const { fn, attempts } = flaky(10);
  await assert.rejects(retry(fn, options), (error) => {
    assert.ok(error instanceof RetryError);
    assert.equal(error.name, "RetryError");
    assert.equal(error.message, "Cannot retry: all 5 attempts failed, the last with: failure 5");
    assert.equal(error.attempts, 5);
    assert.equal((error.cause as Error).message, "failure 5");
    return true;
  });
  assert.deepEqual(attempts, [1, 2, 3, 4, 5]);
  assert.deepEqual(delays, [100, 200, 400, 800]);

  const once = recording();
  await assert.rejects(retry(() => Promise.reject("plain"), { ...once.options, maxAttempts: 1 }), {
    message: "Cannot retry: the only attempt failed, the last with: plain",
  });
  assert.deepEqual(once.delays, []);
});

test("retry() never retries after retryIf returns false, and throws that error as it is", async () => {
  const { delays, options } = recording();
  const fatal = new Error("bad certificate");
  const asked: [string, number][] = [];
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(calls < 3 ? new Error("refused") : fatal);
    }, {
      ...options,
      retryIf: (error, attempt) => {
        asked.push([(error as Error).message, attempt]);
        return error !== fatal;
      },
    }),
    (error) => error === fatal,
  );
  assert.equal(calls, 3);
  assert.deepEqual(asked, [["refused", 1], ["refused", 2], ["bad certificate", 3]]);
  assert.equal(delays.length, 2);
});

test("retry() with an aborted signal rejects with its reason and runs nothing", async () => {
  const reason = new Error("shutting down");
  let called = false;
  await assert.rejects(
    retry(() => {
      called = true;
    }, { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  assert.equal(called, false);
});

test("retry() stops its own delay when the signal aborts, and clears the timer", async () => {
  const controller = new AbortController();
  const reason = new Error("cancelled");
  let calls = 0;
  const timers = watchTimers();
  try {
    const pending = retry(() => {
      calls++;
      setTimeout(() => controller.abort(reason), 0); // aborts during the 60 s delay that follows
      return Promise.reject(new Error("refused"));
    }, { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0, signal: controller.signal });
    await assert.rejects(pending, (error) => error === reason);
  } finally {
    timers.restore();
  }
  assert.equal(calls, 1);
  assert.deepEqual(timers.started, [0, 60_000]);
  assert.deepEqual(timers.pending(), []); // the 60 s timer was cleared, not left behind
});

test("retry() stops waiting for an attempt that ignores the signal, and does not retry", async () => {
  const { delays, options } = recording();
  const controller = new AbortController();
  const reason = new Error("cancelled");
  const hung = Promise.withResolvers<string>();
  const pending = retry(() => hung.promise, { ...options, signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(pending, (error) => error === reason);
  hung.reject(new Error("late failure")); // swallowed: nobody is waiting any more
  assert.deepEqual(delays, []);
});

test("retry() throws the signal's reason when an attempt fails after the abort", async () => {
  const { delays, options } = recording();
  const controller = new AbortController();
  const reason = new Error("cancelled");
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      controller.abort(reason);
      throw new Error("refused");
    }, { ...options, signal: controller.signal }),
    (error) => error === reason,
  );
  assert.equal(calls, 1);
  assert.deepEqual(delays, []);
});

test("retry() passes the signal to an injected sleep", async () => {
  const signal = new AbortController().signal;
  const seen: (AbortSignal | undefined)[] = [];
  await retry(flaky(1).fn, {
    signal,
    sleep: (_ms, s) => {
      seen.push(s);
      return Promise.resolve();
    },
  });
  assert.deepEqual(seen, [signal]);
});

test("retry() rejects out-of-range options with std-style messages", async () => {
  const cases: [RetryOptions, string][] = [
    [{ maxAttempts: 0 }, "Cannot retry as 'maxAttempts' must be a positive integer: current value is 0"],
    [{ maxAttempts: 2.5 }, "Cannot retry as 'maxAttempts' must be a positive integer: current value is 2.5"],
    [{ initialDelayMs: -1 }, "Cannot retry as 'initialDelayMs' must be a finite number >= 0: current value is -1"],
    [
      { initialDelayMs: 500, maxDelayMs: 100 },
      "Cannot retry as 'maxDelayMs' must be a finite number >= 'initialDelayMs' (500): current value is 100",
    ],
    [
      { maxDelayMs: Infinity },
      "Cannot retry as 'maxDelayMs' must be a finite number >= 'initialDelayMs' (100): current value is Infinity",
    ],
    [{ multiplier: 0.5 }, "Cannot retry as 'multiplier' must be a finite number >= 1: current value is 0.5"],
    [{ jitter: 1.5 }, "Cannot retry as 'jitter' must be between 0 and 1: current value is 1.5"],
    [{ jitter: NaN }, "Cannot retry as 'jitter' must be between 0 and 1: current value is NaN"],
  ];
  for (const [options, message] of cases) {
    let called = false;
    await assert.rejects(
      retry(() => {
        called = true;
      }, options),
      { name: "RangeError", message },
    );
    assert.equal(called, false);
  }
});
