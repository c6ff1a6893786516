/**
 * DESIGN.md section 2: only the runtime adapters (and cli.ts's entry block) may name `Deno.*` or
 * `Bun.*`, and no module may touch a runtime global when it is loaded.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { test } from "./_util/test.ts";

const root = new URL("..", import.meta.url).pathname;
const ADAPTERS = new Set(["protocols/_runtime_deno.ts", "protocols/_runtime_bun.ts", "ffi/_deno.ts", "ffi/_bun.ts"]);

async function sourceFiles(): Promise<string[]> {
  const files: string[] = ["mod.ts"];
  for (const dir of ["forward", "protocols", "ha", "tls", "ffi"]) {
    let entries;
    try {
      entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true });
    } catch {
      continue; // a folder that has no code yet
    }
    for (const entry of entries) {
      if (entry.isFile() && entry.name.endsWith(".ts")) {
        files.push(relative(root, join(entry.parentPath, entry.name)));
      }
    }
  }
  return files;
}

function codeLines(text: string): [number, string][] {
  return text.split("\n").map((line, i) => [i + 1, line] as [number, string])
    .filter(([, line]) => !/^\s*(\/\/|\*|\/\*)/.test(line));
}

test("only the runtime adapters name Deno.* or Bun.*", async () => {
  const leaks: string[] = [];
  for (const file of await sourceFiles()) {
    if (ADAPTERS.has(file)) continue;
    for (const [n, line] of codeLines(await readFile(join(root, file), "utf8"))) {
      if (/\b(Deno|Bun)\.[A-Za-z]/.test(line)) leaks.push(`${file}:${n}: ${line.trim()}`);
    }
  }
  assert.deepEqual(leaks, []);
});

test("cli.ts names Deno.* or Bun.* nowhere (its entry block goes through the Runtime)", async () => {
  const lines = codeLines(await readFile(join(root, "cli.ts"), "utf8"));
  assert.deepEqual(lines.filter(([, l]) => /\b(Deno|Bun)\.[A-Za-z]/.test(l)), []);
});
