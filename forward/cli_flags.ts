/**
 * Command-line flags in go-tunnel's style: `-listen :8080` and `--listen=:8080` both work.
 * Unknown flags and bad values get a message naming the flag, the value and the fix.
 * @module
 */
import { parseArgs } from "node:util";

/** A flag's definition, for parsing and for `--help`. */
export interface FlagSpec {
  /** `string` flags take a value; `boolean` flags do not. */
  readonly type: "string" | "boolean";
  /** One-line help. */
  readonly help: string;
  /** Placeholder for the value in help, e.g. `ADDR`. */
  readonly value?: string;
  /** The default, as printed in help. */
  readonly default?: string;
  /** A one-letter alias. */
  readonly short?: string;
}

/** A usage error: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** The closest known flag name, if it is close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Parses `args` against `specs`. Go-style single-dash long flags are accepted.
 *
 * @returns The flag values and the positional arguments.
 * @throws {UsageError} For unknown flags, missing values or unexpected arguments.
 */
export function parseFlags(
  args: readonly string[],
  specs: Readonly<Record<string, FlagSpec>>,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const names = Object.keys(specs);
  const normalized: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      normalized.push(...args.slice(i));
      break;
    }
    const match = /^(-{1,2})([A-Za-z][\w-]*)(=.*)?$/.exec(arg);
    if (!match) {
      normalized.push(arg);
      continue;
    }
    const [, dashes, rawName, rest = ""] = match;
    const byShort = dashes === "-" && rawName.length === 1 ? names.find((n) => specs[n].short === rawName) : undefined;
    const name = byShort ?? rawName;
    if (!specs[name]) {
      const hint = suggest(name, names);
      throw new UsageError(
        `Unknown flag "${arg}"${hint ? `: did you mean "-${hint}"?` : ""} Run with --help to list the flags.`,
      );
    }
    if (specs[name].type === "string" && rest === "" && (i + 1 >= args.length)) {
      throw new UsageError(`Flag "-${name}" needs a value, for example: -${name} ${specs[name].value ?? "VALUE"}`);
    }
    normalized.push(`--${name}${rest}`);
    if (specs[name].type === "boolean" && rest !== "") {
      throw new UsageError(`Flag "-${name}" takes no value; write just -${name}`);
    }
  }
  const options = Object.fromEntries(names.map((n) => [n, { type: specs[n].type }]));
  const { values, positionals } = parseArgs({ args: normalized, options, allowPositionals: true, strict: true });
  return { values: values as Record<string, string | boolean | undefined>, positionals };
}

/** Formats the flags table for `--help`. */
export function formatFlags(specs: Readonly<Record<string, FlagSpec>>): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const left = `  -${name}${spec.value ? " " + spec.value : ""}${spec.short ? `, -${spec.short}` : ""}`;
    const right = spec.help + (spec.default !== undefined ? ` (default: ${spec.default})` : "");
    return [left, right] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right).join("\n");
}
