import assert from "node:assert/strict";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import { startWithAdmin } from "../_util/admin.ts";
import { metricValue } from "./_metric_value.ts";
import { closedLoopbackPort, randomBytes, roundTrip, sameBytes, startEchoServer } from "../_util/echo_server.ts";

test("the admin server exports metrics equal to the bytes and connections moved, and serves health and status", async () => {
  await using echo = await startEchoServer();
  const run = await startWithAdmin([
    "-listen",
    "127.0.0.1:0",
    "-target",
    `127.0.0.1:${echo.port}`,
    "-metrics-namespace",
    "edge",
  ]);
  try {
    const sizes = [1000, 70_000, 123_457];
    for (const size of sizes) {
      const payload = randomBytes(size, size);
      assert.ok(sameBytes(await roundTrip(run.ports[0], payload), payload));
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    const base = `http://127.0.0.1:${run.adminPort}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.equal(metricValue(metrics, "edge_connections_total"), 3);
    assert.equal(metricValue(metrics, "edge_bytes_received_total"), total);
    assert.equal(metricValue(metrics, "edge_bytes_sent_total"), total);
    assert.equal(metricValue(metrics, "edge_connections_active"), 0);
    assert.equal(metricValue(metrics, "edge_connection_duration_seconds_count"), 3);
    assert.equal(metricValue(metrics, "edge_forward_latency_seconds_count"), 3);
    assert.equal(metricValue(metrics, "edge_circuit_breaker_state"), 0);
    assert.match(metrics, /^process_cpu_user_seconds_total \d/m);

    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    const report = await health.json();
    assert.equal(report.status, "pass");
    assert.deepEqual(report.checks.map((c: { name: string }) => c.name), [
      "listener:127.0.0.1:0",
      `upstream:127.0.0.1:${echo.port}`,
    ]);
    assert.equal((await fetch(`${base}/livez`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(await ready.text(), "ready\n");
    const status = await (await fetch(`${base}/status`)).json();
    assert.equal(status.tunnels[0].stats.connections, 3);
    assert.equal(status.tunnels[0].stats.bytesReceived, total);
    assert.equal(status.tunnels[0].state, "listening");
    assert.ok(status.resources.rssBytes > 0 && status.resources.openFds > 0);
    const circuit = await (await fetch(`${base}/circuit`)).json();
    assert.equal(circuit.breakers[0].state, "closed");
    const missing = await fetch(`${base}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    assert.equal(await run.stop(), 0);
  }
});

test("/health warns and /circuit shows an open breaker while the target is down; errors are counted", async () => {
  const port = await closedLoopbackPort();
  const run = await startWithAdmin(["-listen", "127.0.0.1:0", "-target", `127.0.0.1:${port}`, "-dial-attempts", "1"]);
  try {
    for (let i = 0; i < 5; i++) await roundTrip(run.ports[0], new TextEncoder().encode("x"));
    const base = `http://127.0.0.1:${run.adminPort}`;
    const circuit = await waitFor(async () => {
      const c = await (await fetch(`${base}/circuit`)).json();
      return c.breakers[0].state === "open" ? c : undefined;
    }, "the breaker to open");
    assert.equal(circuit.breakers[0].target, `127.0.0.1:${port}`);
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    const report = await health.json();
    assert.equal(report.status, "warn");
    assert.equal(report.checks[1].detail, "circuit open");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.equal(metricValue(metrics, 'ts_tunnel_errors_total{listener="127.0.0.1:0",protocol="tcp",phase="dial"}'), 5);
    assert.equal(metricValue(metrics, "ts_tunnel_circuit_breaker_state"), 2);
  } finally {
    assert.equal(await run.stop(), 0);
  }
});
