import assert from "node:assert/strict";
import { CircuitBreaker } from "../../ha/circuit_breaker.ts";
import { CircuitBreakerRegistry } from "../../ha/circuit_registry.ts";
import { test } from "../_util/test.ts";

const fail = () => Promise.reject(new Error("refused"));

test("CircuitBreakerRegistry creates one breaker per key lazily, with shared options", async () => {
  let now = 0;
  const registry = new CircuitBreakerRegistry({ failureThreshold: 1, cooldownMs: 100, now: () => now });
  assert.equal(registry.size, 0);
  assert.equal(registry.has("a:1"), false);
  const a = registry.get("a:1");
  assert.ok(a instanceof CircuitBreaker);
  assert.equal(registry.get("a:1"), a);
  await assert.rejects(a.execute(fail));
  assert.equal(a.state, "open");
  assert.equal(registry.get("b:2").state, "closed");
  now = 100;
  assert.equal(a.state, "half_open"); // the shared clock and cooldown apply
  assert.deepEqual([...registry.entries()].map(([key, breaker]) => [key, breaker.state]), [
    ["a:1", "half_open"],
    ["b:2", "closed"],
  ]);
});

test("CircuitBreakerRegistry tells its observer which key changed, and isolates a throwing observer", async () => {
  const changes: string[] = [];
  const registry = new CircuitBreakerRegistry({
    failureThreshold: 1,
    onStateChange: (key, from, to) => {
      changes.push(`${key}: ${from}->${to}`);
      throw new Error("observer bug");
    },
  });
  await assert.rejects(registry.get("x").execute(fail), { message: "refused" });
  await assert.rejects(registry.get("y").execute(fail), { message: "refused" });
  assert.deepEqual(changes, ["x: closed->open", "y: closed->open"]);
});

test("CircuitBreakerRegistry.delete() forgets a breaker; get() then starts a closed one", async () => {
  const registry = new CircuitBreakerRegistry({ failureThreshold: 1 });
  await assert.rejects(registry.get("gone").execute(fail));
  assert.equal(registry.delete("gone"), true);
  assert.equal(registry.delete("gone"), false);
  assert.equal(registry.size, 0);
  assert.equal(registry.get("gone").state, "closed");
});

test("CircuitBreakerRegistry checks its options when it is created", () => {
  assert.throws(() => new CircuitBreakerRegistry({ cooldownMs: -5 }), {
    name: "RangeError",
    message: "Cannot create CircuitBreaker as 'cooldownMs' must be a positive integer: current value is -5",
  });
});
