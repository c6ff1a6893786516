import assert from "node:assert/strict";
import { ResourceMonitor, sampleResources } from "../../ha/resource_monitor.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";

test("sampleResources() reports memory and open fds", () => {
  const sample = sampleResources();
  assert.ok(sample.rssBytes > 1_000_000);
  assert.ok(sample.heapUsedBytes > 0);
  assert.ok(sample.openFds > 2, `openFds ${sample.openFds}`);
});

test("ResourceMonitor samples on its interval and reports crossed limits", async () => {
  const crossed: string[] = [];
  using monitor = new ResourceMonitor({
    intervalMs: 10,
    limits: { maxOpenFds: 1, maxRssBytes: 1 },
    onLimit: (l) => crossed.push(l),
  });
  const first = monitor.latest.at;
  await waitFor(() => crossed.length >= 2, "a sample over the limits");
  assert.ok(crossed.includes("maxOpenFds") && crossed.includes("maxRssBytes"));
  assert.ok(monitor.latest.at >= first);
  assert.ok(monitor.latest.eventLoopLagMs >= 0);
  assert.throws(() => new ResourceMonitor({ intervalMs: 0 }), {
    message: "Cannot create ResourceMonitor as 'intervalMs' must be a positive integer: current value is 0",
  });
});
