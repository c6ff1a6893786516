/**
 * A real Prometheus (Debian package `prometheus`, installed by .ci/run) scrapes the admin server,
 * and `promtool check metrics` accepts our series.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import { closedLoopbackPort, randomBytes, roundTrip, startEchoServer } from "../_util/echo_server.ts";
import { startWithAdmin } from "../_util/admin.ts";

function which(binary: string): string | undefined {
  const found = spawnSync("sh", ["-c", `command -v ${binary}`], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const prometheus = which("prometheus");
const promtool = which("promtool");
const missing = !prometheus || !promtool
  ? process.env.CI ? false : "prometheus is not installed (apt-get install prometheus); .ci/run installs it"
  : false;

test("a real Prometheus scrapes /metrics and its query API returns the bytes moved", async () => {
  await using echo = await startEchoServer();
  const run = await startWithAdmin(["-listen", "127.0.0.1:0", "-target", `127.0.0.1:${echo.port}`]);
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-prom-"));
  let child: ReturnType<typeof spawn> | undefined;
  try {
    const sizes = [4096, 65_537, 300_000];
    for (const size of sizes) await roundTrip(run.ports[0], randomBytes(size, size));
    const total = sizes.reduce((a, b) => a + b, 0);
    await writeFile(
      join(dir, "prometheus.yml"),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n  - job_name: ts-tunnel\n    static_configs:\n      - targets: ["127.0.0.1:${run.adminPort}"]\n`,
    );
    const webPort = await closedLoopbackPort();
    child = spawn(prometheus!, [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${webPort}`,
    ], { stdio: "ignore" });
    const query = async (q: string) => {
      try {
        const response = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = await response.json();
        return body.data?.result?.[0]?.value?.[1] as string | undefined;
      } catch {
        return undefined; // not up yet
      }
    };
    const received = await waitFor(() => query("ts_tunnel_bytes_received_total"), "Prometheus to scrape", 30_000);
    assert.equal(Number(received), total);
    assert.equal(Number(await query('ts_tunnel_connections_total{protocol="tcp"}')), 3);
    assert.equal(Number(await query("up")), 1);
  } finally {
    if (child?.pid) {
      const exited = new Promise((resolve) => child!.on("exit", resolve));
      process.kill(child.pid, "SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
    assert.equal(await run.stop(), 0);
  }
}, { ignore: missing, timeoutMs: 60_000 });

test("promtool check metrics accepts every ts_tunnel series", async () => {
  await using echo = await startEchoServer();
  const run = await startWithAdmin(["-listen", "127.0.0.1:0", "-target", `127.0.0.1:${echo.port}`]);
  try {
    await roundTrip(run.ports[0], randomBytes(1000));
    const text = await (await fetch(`http://127.0.0.1:${run.adminPort}/metrics`)).text();
    const checked = spawnSync(promtool!, ["check", "metrics"], { input: text, encoding: "utf8" });
    const problems = (checked.stdout + checked.stderr).split("\n").filter((l) => l.trim() !== "");
    // prom-client's own nodejs_active_* gauges carry a `_total` suffix promtool lints; ours must be clean.
    const ours = problems.filter((l) => !/^nodejs_active_\w+_total /.test(l));
    assert.deepEqual(ours, []);
    assert.ok(checked.status === 0 || problems.length > 0, `promtool failed: ${checked.stderr}`);
  } finally {
    assert.equal(await run.stop(), 0);
  }
}, { ignore: missing });
