import assert from "node:assert/strict";
import { ShutdownManager } from "../../ha/shutdown.ts";
import { test } from "../_util/test.ts";

test("ShutdownManager runs hooks by priority, same priority together, once", async () => {
  const events: string[] = [];
  const shutdown = new ShutdownManager({ timeoutMs: 5_000 });
  shutdown.register("db", 100, () => void events.push("db"));
  shutdown.register("listener-a", 1, async () => {
    events.push("a:start");
    await new Promise((resolve) => setTimeout(resolve, 10));
    events.push("a:end");
  });
  shutdown.register("listener-b", 1, () => void events.push("b"));
  shutdown.register("pool", 50, () => {
    throw new Error("pool stuck");
  });
  const first = shutdown.run();
  assert.equal(shutdown.run(), first);
  const results = await first;
  assert.deepEqual(events, ["a:start", "b", "a:end", "db"]);
  assert.deepEqual(results.map((r) => `${r.name}:${r.outcome}`), [
    "listener-a:ok",
    "listener-b:ok",
    "pool:failed",
    "db:ok",
  ]);
  assert.equal((results[2].error as Error).message, "pool stuck");
  assert.throws(() => shutdown.register("late", 1, () => {}), {
    message: 'Cannot register shutdown hook "late": the shutdown already started',
  });
});

test("ShutdownManager.force() aborts running hooks, and the timeout forces them too", async () => {
  const hang = (signal: AbortSignal) =>
    new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
  const forced = new ShutdownManager({ timeoutMs: 60_000 });
  forced.register("drain", 1, hang);
  const running = forced.run();
  forced.force();
  assert.deepEqual((await running).map((r) => r.outcome), ["forced"]);
  const timed = new ShutdownManager({ timeoutMs: 20 });
  timed.register("drain", 1, hang);
  assert.deepEqual((await timed.run()).map((r) => r.outcome), ["forced"]);
  assert.throws(() => new ShutdownManager({ timeoutMs: -1 }), {
    message: "Cannot create ShutdownManager as 'timeoutMs' must be a non-negative integer: current value is -1",
  });
});
