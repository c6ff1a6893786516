/**
 * Internal: what every part of the YAML config parser shares: {@linkcode ConfigError} and the
 * mapping, key and value helpers.
 * @module
 */

/** A config-file error: names the key path, the value and the fix. */
export class ConfigError extends Error {
  /** The key path, e.g. `protocols[0].listen`. */
  readonly path: string;
  /**
   * @param path The key path.
   * @param message What is wrong and how to fix it.
   */
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "ConfigError";
    this.path = path;
  }
}

/** A YAML mapping. */
export type Mapping = Record<string, unknown>;

/** Whether `value` is a YAML mapping. */
export function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value` as it appears in messages. */
export function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** Rejects keys of `map` not in `allowed`, naming the path and the allowed keys. */
export function checkKeys(map: Mapping, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(map)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(`${path ? path + "." : ""}${key}`, `unknown key; allowed keys here: ${allowed.join(", ")}`);
    }
  }
}
