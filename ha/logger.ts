/**
 * A small leveled logger (text or JSON lines) that never prints secrets and cooperates with a
 * live status line on a terminal.
 * @module
 */

/** Log levels, most severe first. */
export type LogLevel = "error" | "warn" | "info" | "debug";
/** Output formats. */
export type LogFormat = "text" | "json";

/** Every level, most severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug"];
/** Every format. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** A value printed as `***` in logs, JSON and `String()`: for tokens and passwords. */
export class Secret {
  #value: string;
  /**
   * Wraps a secret.
   *
   * @param value The secret text.
   */
  constructor(value: string) {
    this.#value = value;
  }
  /** The secret itself; call only where it is used, never to print it. */
  reveal(): string {
    return this.#value;
  }
  /** Always `***`. */
  toString(): string {
    return "***";
  }
  /** Always `***`. */
  toJSON(): string {
    return "***";
  }
}

/** Where log lines go. */
export interface LogSink {
  /** Writes one complete line (with its newline). */
  writeLine(line: string): void;
}

/** Structured fields of a log line. */
export type LogFields = Record<string, unknown>;

function formatValue(value: unknown): string {
  if (value instanceof Secret) return "***";
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return /^[\w.:/\[\]@-]+$/.test(value) ? value : JSON.stringify(value);
  return String(value);
}

function jsonValue(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? value.message : { message: value.message, code };
  }
  return value;
}

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /** Least severe level printed. @default {"info"} */
  level?: LogLevel;
  /** Line format. @default {"text"} */
  format?: LogFormat;
  /** Clock, injectable for tests. @default {() => new Date()} */
  now?: () => Date;
}

/** Writes leveled log lines to a sink. */
export class Logger {
  /** Least severe level printed. */
  readonly level: LogLevel;
  /** Line format. */
  readonly format: LogFormat;
  #rank: number;
  #sink: LogSink;
  #now: () => Date;

  /**
   * Creates a logger.
   *
   * @param sink Where lines go.
   * @param options Level, format and clock.
   */
  constructor(sink: LogSink, options: LoggerOptions = {}) {
    const { level = "info", format = "text", now = () => new Date() } = options;
    this.level = level;
    this.format = format;
    this.#rank = LOG_LEVELS.indexOf(level);
    this.#sink = sink;
    this.#now = now;
  }

  /** True when lines at `level` are printed (use to skip building expensive fields). */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.#rank;
  }

  /** Logs at `error`. */
  error(message: string, fields?: LogFields): void {
    this.log("error", message, fields);
  }
  /** Logs at `warn`. */
  warn(message: string, fields?: LogFields): void {
    this.log("warn", message, fields);
  }
  /** Logs at `info`. */
  info(message: string, fields?: LogFields): void {
    this.log("info", message, fields);
  }
  /** Logs at `debug`. */
  debug(message: string, fields?: LogFields): void {
    this.log("debug", message, fields);
  }

  /** Logs `message` with `fields` at `level`, if that level is enabled. */
  log(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const time = this.#now().toISOString();
    if (this.format === "json") {
      const record: Record<string, unknown> = { time, level, msg: message };
      for (const [key, value] of Object.entries(fields)) record[key] = jsonValue(value);
      this.#sink.writeLine(JSON.stringify(record) + "\n");
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
    this.#sink.writeLine(line + "\n");
  }
}
