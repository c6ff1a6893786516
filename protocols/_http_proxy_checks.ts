/**
 * Internal: option checks the HTTP/2 and HTTP/3 proxies share, with the same messages
 * ("Cannot create Http2Proxy as ...").
 * @module
 */

/** Returns `value` when it is an integer from `min` to `max`; else throws a RangeError naming `owner` and `name`. */
export function checkProxyInteger(
  owner: string,
  name: string,
  value: number,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot create ${owner} as '${name}' must be an integer from ${min} to ${max}: current value is ${value}`,
    );
  }
  return value;
}

/** Checks the `target` and `upstream` options every HTTP proxy takes. @throws {TypeError} */
export function checkProxyTargetAndUpstream(owner: string, target: unknown, upstream: string): void {
  if (typeof target !== "string" || target === "") {
    throw new TypeError(
      `Cannot create ${owner} as 'target' is missing: give "host:port", for example "127.0.0.1:8080"`,
    );
  }
  if (upstream !== "http1" && upstream !== "h2c") {
    throw new TypeError(
      `Cannot create ${owner} as 'upstream' must be "http1" or "h2c": current value is "${upstream}"`,
    );
  }
}
