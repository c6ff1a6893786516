/**
 * Internal: the permit every limiter hands out, and option checks.
 * @module
 */
import type { Permit } from "./limiter.ts";

/** A permit that runs `onRelease` exactly once. */
export class OncePermit implements Permit {
  #onRelease: (() => void) | undefined;
  constructor(onRelease: () => void) {
    this.#onRelease = onRelease;
  }
  get released(): boolean {
    return this.#onRelease === undefined;
  }
  release(): void {
    const onRelease = this.#onRelease;
    this.#onRelease = undefined;
    onRelease?.();
  }
  [Symbol.dispose](): void {
    this.release();
  }
}

/** Throws std's RangeError unless `value` is a positive integer (or, if allowed, `Infinity`). */
export function checkLimit(owner: string, name: string, value: number, rule: "count" | "count or Infinity"): void {
  if (Number.isInteger(value) && value >= 1) return;
  if (rule === "count or Infinity" && value === Infinity) return;
  const what = rule === "count" ? "a positive integer" : "a positive integer or Infinity";
  throw new RangeError(`Cannot create ${owner} as '${name}' must be ${what}: current value is ${value}`);
}
