/**
 * Importing `tls/` never loads an npm package: acme-client and prom-client appear only in
 * `import type` declarations and in `import()` calls inside functions.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "../../_util/test.ts";

const root = new URL("../../../tls/", import.meta.url).pathname;

test("tls/ names npm packages only in type imports and lazy import() calls", async () => {
  const offenders: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    const file = join(entry.parentPath, entry.name);
    for (const [i, line] of (await readFile(file, "utf8")).split("\n").entries()) {
      if (!/["'](acme-client|prom-client|yaml)["']/.test(line) || /^\s*(\*|\/\/)/.test(line)) continue;
      const lazy = /\bimport\(\s*["']/.test(line) && !/^\s*import\s/.test(line);
      if (!/^\s*import type\s/.test(line) && !lazy) {
        offenders.push(`${file.slice(root.length)}:${i + 1}: ${line.trim()}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});
