/**
 * Graceful shutdown with prioritised hooks (go-tunnel's `shutdown.Register(name, priority, fn)`):
 * lower priorities run first, hooks of one priority run together, and the whole run has a
 * deadline after which each hook's signal aborts so it can stop at once.
 * @module
 */

/** A shutdown hook. `signal` aborts when the overall timeout passes or {@linkcode ShutdownManager.force} is called. */
export type ShutdownHook = (signal: AbortSignal) => void | Promise<void>;

/** What happened to one hook. */
export interface HookResult {
  /** The hook's name. */
  readonly name: string;
  /** Its priority. */
  readonly priority: number;
  /** `ok`, `failed` (threw) or `forced` (still running when the deadline passed). */
  readonly outcome: "ok" | "failed" | "forced";
  /** The error, when it failed. */
  readonly error?: unknown;
  /** How long it ran, in milliseconds. */
  readonly durationMs: number;
}

/** Options for {@linkcode ShutdownManager}. */
export interface ShutdownOptions {
  /** Deadline for the whole shutdown, in milliseconds. @default {30_000} */
  timeoutMs?: number;
}

/** Default deadline for a shutdown: 30 s, go-tunnel's. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

/**
 * Runs registered hooks in priority order once. A second request ({@linkcode ShutdownManager.force})
 * aborts every hook's signal so they finish at once.
 *
 * @example
 * ```ts
 * import { ShutdownManager } from "./shutdown.ts";
 * const order: string[] = [];
 * const shutdown = new ShutdownManager({ timeoutMs: 1_000 });
 * shutdown.register("database", 100, () => void order.push("database"));
 * shutdown.register("listeners", 1, () => void order.push("listeners"));
 * await shutdown.run();
 * console.assert(order.join() === "listeners,database");
 * ```
 */
export class ShutdownManager {
  #hooks: { name: string; priority: number; hook: ShutdownHook }[] = [];
  #timeoutMs: number;
  #force = new AbortController();
  #running?: Promise<HookResult[]>;

  /**
   * Creates a manager with no hooks.
   *
   * @param options The overall deadline.
   * @throws {RangeError} If `timeoutMs` is not a non-negative integer.
   */
  constructor(options: ShutdownOptions = {}) {
    const { timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS } = options;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      throw new RangeError(
        `Cannot create ShutdownManager as 'timeoutMs' must be a non-negative integer: current value is ${timeoutMs}`,
      );
    }
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Adds a hook.
   *
   * @param name For logs and results.
   * @param priority Lower runs first (go-tunnel: listeners 1, pools 50, databases 100).
   * @param hook The work; it should stop promptly when its signal aborts.
   * @throws {TypeError} If the shutdown already started.
   */
  register(name: string, priority: number, hook: ShutdownHook): void {
    if (this.#running) throw new TypeError(`Cannot register shutdown hook "${name}": the shutdown already started`);
    this.#hooks.push({ name, priority, hook });
  }

  /** True once {@linkcode ShutdownManager.run} was called. */
  get started(): boolean {
    return this.#running !== undefined;
  }

  /**
   * Runs the hooks (once; later calls return the same result).
   *
   * @returns Each hook's outcome, in the order they ran.
   */
  run(): Promise<HookResult[]> {
    return this.#running ??= this.#run();
  }

  /** Aborts every running hook's signal (the second Ctrl-C). */
  force(): void {
    this.#force.abort(new Error("Cannot continue: shutdown was forced"));
  }

  async #run(): Promise<HookResult[]> {
    const timer = setTimeout(() => this.force(), this.#timeoutMs);
    const signal = this.#force.signal;
    const priorities = [...new Set(this.#hooks.map((h) => h.priority))].sort((a, b) => a - b);
    const results: HookResult[] = [];
    try {
      for (const priority of priorities) {
        const batch = this.#hooks.filter((h) => h.priority === priority);
        results.push(
          ...await Promise.all(batch.map(async ({ name, hook }): Promise<HookResult> => {
            const started = performance.now();
            try {
              await hook(signal);
              const outcome = signal.aborted ? "forced" : "ok";
              return { name, priority, outcome, durationMs: performance.now() - started };
            } catch (error) {
              return { name, priority, outcome: "failed", error, durationMs: performance.now() - started };
            }
          })),
        );
      }
    } finally {
      clearTimeout(timer);
    }
    return results;
  }
}
