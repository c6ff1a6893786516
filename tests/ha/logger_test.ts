import assert from "node:assert/strict";
import { Logger, Secret } from "../../ha/logger.ts";
import { formatRate, StatusLine } from "../../ha/status_line.ts";
import { test } from "../_util/test.ts";

const fixedNow = () => new Date("2026-01-02T03:04:05.678Z");

test("Logger writes text lines with fields and masks secrets", () => {
  const lines: string[] = [];
  const logger = new Logger({ writeLine: (l) => lines.push(l) }, { level: "info", now: fixedNow });
  logger.info("listening", { addr: "127.0.0.1:8080", token: new Secret("hunter2"), note: "two words" });
  logger.debug("hidden");
  logger.error("failed", { error: new Error("connection refused") });
  assert.deepEqual(lines, [
    '2026-01-02T03:04:05.678Z INFO  listening addr=127.0.0.1:8080 token=*** note="two words"\n',
    '2026-01-02T03:04:05.678Z ERROR failed error="connection refused"\n',
  ]);
  assert.ok(!lines.join("").includes("hunter2"));
});

test("Logger writes JSON lines with error codes and masks secrets", () => {
  const lines: string[] = [];
  const logger = new Logger({ writeLine: (l) => lines.push(l) }, { level: "debug", format: "json", now: fixedNow });
  const error = Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
  logger.debug("closed", { in: 3, token: new Secret("s3cret"), error });
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2026-01-02T03:04:05.678Z",
    level: "debug",
    msg: "closed",
    in: 3,
    token: "***",
    error: { message: "refused", code: "ECONNREFUSED" },
  });
  assert.equal(String(new Secret("x")), "***");
});

test("StatusLine redraws in place and keeps log lines above it", () => {
  let out = "";
  let now = 0;
  let sample = { active: 0, bytesSent: 0, bytesReceived: 0 };
  const status = new StatusLine({ write: (t) => out += t }, () => sample, () => now);
  status.refresh();
  assert.equal(out, "\r\x1b[2Kactive 0 | in 0 B/s | out 0 B/s");
  now = 2000;
  sample = { active: 3, bytesSent: 4_000_000, bytesReceived: 2_000 };
  out = "";
  status.refresh();
  assert.equal(out, "\r\x1b[2Kactive 3 | in 1.0 KB/s | out 2.0 MB/s");
  out = "";
  status.writeLine("a log line\n");
  assert.equal(out, "\r\x1b[2Ka log line\nactive 3 | in 1.0 KB/s | out 2.0 MB/s");
  out = "";
  status.stop();
  assert.equal(out, "\r\x1b[2K");
  assert.equal(formatRate(999), "999 B/s");
  assert.equal(formatRate(1_250_000_000), "1.3 GB/s");
});
