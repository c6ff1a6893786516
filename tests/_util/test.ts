/**
 * Maps `test()` to `Deno.test` or `bun:test`, so one suite runs on both runtimes.
 * @module
 */

/** Options for {@linkcode test}. */
export interface TestOptions {
  /** Per-test timeout in milliseconds (Bun only; Deno has none). @default {60_000} */
  timeoutMs?: number;
  /** Skip the test (with the reason) when set. */
  ignore?: string | false;
}

type TestFn = () => void | Promise<void>;
type BunTest = ((name: string, fn: TestFn, timeoutMs?: number) => void) & {
  skip(name: string, fn: TestFn): void;
};
type DenoTest = (definition: { name: string; fn: TestFn; ignore?: boolean }) => void;

const bunSpecifier = "bun:test";
const bunTest: BunTest | undefined = "Bun" in globalThis
  ? ((await import(bunSpecifier)) as { test: BunTest }).test
  : undefined;

/** The runtime running the tests. */
export const runtimeName: "deno" | "bun" = bunTest ? "bun" : "deno";

/** Registers a test with the runtime's own runner. */
export function test(name: string, fn: TestFn, options: TestOptions = {}): void {
  const { timeoutMs = 60_000, ignore = false } = options;
  if (bunTest) {
    if (ignore) bunTest.skip(name, fn);
    else bunTest(name, fn, timeoutMs);
    return;
  }
  const denoTest = (globalThis as unknown as { Deno: { test: DenoTest } }).Deno.test;
  denoTest({ name, fn, ignore: Boolean(ignore) });
}
