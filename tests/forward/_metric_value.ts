/** Test helper: reads one series from Prometheus text. @module */
import assert from "node:assert/strict";

/** The value of the first series named `name` (with or without labels), failing when there is none. */
export function metricValue(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(name + "{") || l.startsWith(name + " "));
  assert.ok(line, `no series ${name}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}
