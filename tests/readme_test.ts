/** The README's library example runs as written (imports rewritten to this checkout). */
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "./_util/test.ts";
import { startEchoServer } from "./_util/echo_server.ts";

const root = new URL("..", import.meta.url).pathname;

test("the README's library example runs", async () => {
  await using echo = await startEchoServer();
  const readme = await readFile(join(root, "README.md"), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "README has no ts block");
  assert.ok(block.includes('from "./mod.ts"'));
  const file = join(root, "tests", `_readme_example_${Math.random().toString(36).slice(2)}.ts`);
  const logs: string[] = [];
  const code = block
    .replace('from "./mod.ts"', 'from "../mod.ts"')
    .replace('targetAddr: "127.0.0.1:9"', `targetAddr: "127.0.0.1:${echo.port}"`)
    .replaceAll("console.log(", "globalThis.__readmeLog(");
  (globalThis as unknown as { __readmeLog: (s: string) => void }).__readmeLog = (s) => logs.push(s);
  await writeFile(file, code + "\nexport {};\n");
  try {
    await import(file);
  } finally {
    await rm(file);
  }
  assert.match(logs[0], /^tcp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ has 0 open connections$/);
  assert.equal(logs[1], "moved 0/0 bytes with " + ("Bun" in globalThis ? "push-pump" : "pull-pump"));
});
