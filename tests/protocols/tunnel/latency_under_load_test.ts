/**
 * The "a bulk stream cannot starve interactive ones", end to end: through a real
 * TunnelServer and TunnelClient on loopback, one tunneled connection downloads 256 MiB while
 * another does 64-byte request/response round trips. Asserted: every byte (bulk and replies) is
 * exact, and the interactive connection completed its first round trips while the bulk was still
 * under way. The latency figures (p50 idle and under load) are printed, not asserted: the 3x
 * comparison is bench/tunnel_latency.ts's job (timing thresholds do not go into tests).
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_util/test.ts";
import { bulkTransfer, quantile, runLatencyUnderLoad, startLoadTarget } from "./_latency_load.ts";
import { makeClient, startServer, TRANSPORT_FIXTURES } from "./_tunnel_util.ts";

const BULK_BYTES = 256 * 1024 * 1024;
/** Round trips that must complete while the bulk is still moving. */
const TURNS = 20;

for (const transport of Object.values(TRANSPORT_FIXTURES)) {
  test(`reverse tunnel over ${transport.name}: small round trips keep going during a 256 MiB transfer`, async () => {
    await using target = await startLoadTarget();
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      services: [{ name: "load", localAddr: `127.0.0.1:${target.port}` }],
    });
    await client.start();
    const port = client.services()[0].remotePort!;
    const result = await runLatencyUnderLoad({
      port,
      bulk: () => bulkTransfer(port, BULK_BYTES, "down"),
      idleRoundTrips: 200,
      maxLoadedRoundTrips: 100_000,
      turns: TURNS,
    });
    const ms = (values: number[]) => quantile(values, 0.5).toFixed(3);
    // deno-lint-ignore no-console
    console.log(
      `  ${transport.name}: p50 idle ${ms(result.idleMs)} ms, under bulk ${ms(result.loadedMs)} ms ` +
        `(${result.loadedMs.length} round trips during ${(result.bulkMs / 1000).toFixed(1)} s of bulk; ` +
        `${result.bulkBytesAtTurns ?? "-"} bulk bytes moved after ${TURNS})`,
    );
    assert.ok(result.bulkIntact, `the bulk arrived damaged or short: ${result.bulkBytes} of ${BULK_BYTES} bytes`);
    assert.ok(result.repliesExact, "a reply differed from its request");
    assert.ok(
      result.loadedMs.length >= TURNS,
      `only ${result.loadedMs.length} round trips completed while the bulk ran`,
    );
    assert.ok(
      result.bulkBytesAtTurns! < BULK_BYTES,
      `the first ${TURNS} round trips under load completed only after the bulk had moved everything`,
    );
  }, { timeoutMs: 90_000 });
}
