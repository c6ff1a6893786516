/**
 * Go-style durations (`"300ms"`, `"30s"`, `"5m"`, `"1h30m"`) for flags and config files.
 * @module
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `"250ms"`, `"30s"`, `"5m"`, `"1h30m"` or `"0"` into milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * console.assert(parseDuration("1m30s") === 90_000);
 * ```
 * @param text The duration.
 * @returns Milliseconds.
 * @throws {TypeError} If the text is not a duration.
 */
export function parseDuration(text: string): number {
  const value = text.trim();
  if (value === "0") return 0;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) {
    throw new TypeError(`Cannot parse duration "${text}": use a number with a unit, for example 500ms, 30s, 5m or 1h`);
  }
  return Math.round(parts.reduce((ms, [, n, unit]) => ms + Number(n) * UNIT_MS[unit], 0));
}

/** Formats milliseconds the way {@linkcode parseDuration} reads them: `"30s"`, `"5m"`, `"250ms"`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
