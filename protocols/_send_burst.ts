/**
 * Internal: tells a stream's interactive writes from bulk ones by the bytes it writes per window.
 * Used by the Deno QUIC adapter (send order) and the reverse tunnel's QUIC stream pacing.
 * @module
 */

/** Bytes a stream may write within one {@linkcode BURST_WINDOW_MS} window and still count as interactive. */
export const INTERACTIVE_BURST_BYTES = 64 * 1024;
/**
 * The window {@linkcode INTERACTIVE_BURST_BYTES} counts in: a bulk stream counts as interactive
 * again only after a window in which it wrote no more than that, so a long-lived interactive
 * stream (an SSH session, a database connection) is not demoted for good by one burst, and a busy
 * bulk stream never looks interactive.
 */
export const BURST_WINDOW_MS = 100;

/** One stream's write classification. */
export class SendBurst {
  /** True once the stream wrote more than {@linkcode INTERACTIVE_BURST_BYTES} within a window. */
  bulk = false;
  #written = 0;
  #windowStart = -Infinity;

  /**
   * Counts a write of `bytes` at `now` (ms).
   * @returns True when {@linkcode SendBurst.bulk} changed.
   */
  note(bytes: number, now: number): boolean {
    const was = this.bulk;
    const elapsed = now - this.#windowStart;
    if (elapsed >= BURST_WINDOW_MS) {
      // Back to interactive only after a quiet window: the one that just ended wrote little, or a
      // whole window passed without a write.
      if (elapsed >= 2 * BURST_WINDOW_MS || this.#written <= INTERACTIVE_BURST_BYTES) this.bulk = false;
      this.#windowStart = now;
      this.#written = 0;
    }
    this.#written += bytes;
    if (this.#written > INTERACTIVE_BURST_BYTES) this.bulk = true;
    return this.bulk !== was;
  }
}
