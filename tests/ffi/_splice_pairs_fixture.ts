/**
 * Run by splice_path_test.ts in a fresh process (so that no other test's fds are counted): moves
 * PAIRS concurrent pairs through splicePath and prints, as JSON, what happened and the open fd
 * counts before and after.
 * @module
 */
import process from "node:process";
import { closeSpliceEngine, spliceEngine } from "../../ffi/splice_engine.ts";
import { splicePath } from "../../ffi/splice_path.ts";
import { connectClient, readAll, startEchoServer } from "../_util/echo_server.ts";
import { waitFor } from "../_util/wait.ts";
import { openFdCount, pumpOptions, startRelay } from "./_splice_util.ts";

const PAIRS = Number(process.argv[2] ?? 1_000);

/** One relay through the splice path; `count` clients each send a text and half-close. */
async function relayPairs(count: number, whileLive?: () => Promise<void>) {
  await using echo = await startEchoServer();
  await using relay = await startRelay(echo.port, (a, b) => splicePath.tryForward(a, b, pumpOptions()));
  const clients = await Promise.all(Array.from({ length: count }, () => connectClient(relay.port)));
  await whileLive?.();
  const texts = clients.map((_, i) => `pair ${i} `.repeat(1 + (i % 50)));
  const answers = clients.map((client, i) => {
    const answer = readAll(client);
    client.end(texts[i]);
    return answer;
  });
  const echoed = (await Promise.all(answers)).map((bytes) => new TextDecoder().decode(bytes));
  for (const client of clients) client.destroy();
  const runs = await Promise.all(relay.runs);
  return {
    echoedExactly: echoed.filter((text, i) => text === texts[i]).length,
    splicedToEof: runs.filter((run) => JSON.stringify(run.result) === '{"handled":true,"path":"splice","end":"eof"}')
      .length,
  };
}

/** The open fd count once it stopped changing (sockets of earlier work close asynchronously). */
async function settledFdCount(): Promise<number> {
  let last = openFdCount();
  for (let stable = 0, polls = 0; stable < 5 && polls < 200; polls++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = openFdCount();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return last;
}

// Warm-up at full scale: the runtimes open some fds of their own lazily (Deno adds a Unix
// socketpair once it serves ~1,000 connections, splice or not; a Worker brings its event loop).
await relayPairs(PAIRS);
await closeSpliceEngine();
const before = await settledFdCount();
let maxLive = 0;
const result = await relayPairs(PAIRS, async () => {
  const engine = (await spliceEngine())!;
  await waitFor(() => engine.stats.activePairs === PAIRS, "every pair live at once", 30_000);
  maxLive = engine.stats.activePairs;
});
const engine = (await spliceEngine())!;
const stats = engine.stats;
await closeSpliceEngine();
await waitFor(() => openFdCount() <= before, "fds back to the count before", 10_000).catch(() => {});
const after = await settledFdCount();
// deno-lint-ignore no-console
console.log(JSON.stringify({
  ...result,
  maxLive,
  activeAfter: stats.activePairs,
  totalPairs: stats.totalPairs,
  errors: stats.errors,
  fdsBefore: before,
  fdsAfter: after,
}));
