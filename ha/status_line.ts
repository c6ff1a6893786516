/**
 * A live one-line status (active connections and throughput each way) for a terminal, redrawn in
 * place; log lines are printed above it without interleaving. Off when the output is not a TTY.
 * @module
 */
import type { LogSink } from "./logger.ts";

/** What the status line shows, sampled once per refresh. */
export interface StatusSample {
  /** Open connections. */
  readonly active: number;
  /** Total bytes towards clients. */
  readonly bytesSent: number;
  /** Total bytes from clients. */
  readonly bytesReceived: number;
}

/** Something to write raw text to (a terminal). */
export interface TextOutput {
  /** Writes `text` as is. */
  write(text: string): void;
}

/** Formats a byte rate: `0 B/s`, `12.3 KB/s`, `1.2 GB/s` (decimal units). */
export function formatRate(bytesPerSecond: number): string {
  const units = ["B/s", "KB/s", "MB/s", "GB/s"];
  let value = bytesPerSecond;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

const CLEAR_LINE = "\r\x1b[2K";

/**
 * Keeps one status line at the bottom of a terminal. Use it as the logger's sink so log lines go
 * above the status line.
 */
export class StatusLine implements LogSink {
  #out: TextOutput;
  #sample: () => StatusSample;
  #timer?: ReturnType<typeof setInterval>;
  #text = "";
  #last?: { at: number; sent: number; received: number };
  #now: () => number;

  /**
   * Creates a status line; nothing is drawn until {@linkcode StatusLine.start} or `refresh()`.
   *
   * @param out The terminal.
   * @param sample Reads the current counters.
   * @param now Clock in milliseconds. @default {performance.now}
   */
  constructor(out: TextOutput, sample: () => StatusSample, now: () => number = () => performance.now()) {
    this.#out = out;
    this.#sample = sample;
    this.#now = now;
  }

  /** Starts refreshing every `intervalMs`. */
  start(intervalMs = 1000): void {
    this.refresh();
    this.#timer ??= setInterval(() => this.refresh(), intervalMs);
  }

  /** Samples the counters and redraws. */
  refresh(): void {
    const sample = this.#sample();
    const at = this.#now();
    let up = 0;
    let down = 0;
    if (this.#last && at > this.#last.at) {
      const seconds = (at - this.#last.at) / 1000;
      up = (sample.bytesReceived - this.#last.received) / seconds;
      down = (sample.bytesSent - this.#last.sent) / seconds;
    }
    this.#last = { at, sent: sample.bytesSent, received: sample.bytesReceived };
    this.#text = `active ${sample.active} | in ${formatRate(Math.max(0, up))} | out ${formatRate(Math.max(0, down))}`;
    this.#out.write(CLEAR_LINE + this.#text);
  }

  /** Prints a log line above the status line. */
  writeLine(line: string): void {
    this.#out.write(this.#text ? CLEAR_LINE + line + this.#text : line);
  }

  /** Stops refreshing and erases the status line. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#text) this.#out.write(CLEAR_LINE);
    this.#text = "";
  }
}
