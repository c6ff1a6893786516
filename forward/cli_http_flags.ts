/**
 * The flags of the HTTP listeners: `-upstream` (http2 and http3), `-h2c`, `-connect-allow`,
 * `-alt-svc` and `-http3` (http2), mapped to the tunnel config's keys. Messages name the flag, the
 * value and the fix.
 * @module
 */
import { type FlagSpec, UsageError } from "./cli_flags.ts";

/** The flags of a `-protocol http2` listener (an HTTP/2 + HTTP/1.1 reverse proxy); `-upstream` also applies to http3. */
export const HTTP2_FLAGS: Readonly<Record<string, FlagSpec>> = {
  upstream: {
    type: "string",
    value: "MODE",
    help: "http2, http3: talk to the target over http1 or h2c",
    default: "http1",
  },
  h2c: { type: "boolean", help: "http2: serve cleartext HTTP/2 (prior knowledge) instead of TLS" },
  "connect-allow": {
    type: "string",
    value: "LIST",
    help: "http2: host:port patterns CONNECT may reach, e.g. db:5432,*.example.com:443 (default: none)",
  },
  "alt-svc": { type: "string", value: "VALUE", help: 'http2: Alt-Svc on every response: an HTTP/3 port, or h3=":443"' },
  http3: {
    type: "boolean",
    help: 'http2: also serve HTTP/3 on the same port over UDP, advertised with Alt-Svc: h3=":PORT"',
  },
};

/** The http2 parts of a tunnel config, as {@linkcode http2FromFlags} returns them. */
export interface Http2FlagConfig {
  /** `-upstream`. */
  upstream?: "http1" | "h2c";
  /** `-h2c`. */
  h2c?: boolean;
  /** `-connect-allow`. */
  connectAllow?: string[];
  /** `-alt-svc`: a port number or the header value. */
  altSvc?: number | string;
  /** `-http3`. */
  http3?: boolean;
}

/**
 * Maps the {@linkcode HTTP2_FLAGS} to the tunnel config's http2 keys.
 *
 * @param values Parsed flag values.
 * @param protocol The listener protocol (`-protocol`).
 * @returns The keys to merge into the tunnel config (empty when no http2 flag is set).
 * @throws {UsageError} Naming the flag, its value and the fix.
 */
export function http2FromFlags(
  values: Record<string, string | boolean | undefined>,
  protocol: string,
): Http2FlagConfig {
  const used = Object.keys(HTTP2_FLAGS).filter((f) => values[f] !== undefined);
  if (used.length === 0) return {};
  if (protocol === "http3") {
    const other = used.find((f) => f !== "upstream");
    if (other) throw new UsageError(`Flag "-${other}" applies to an http2 listener, not -protocol http3`);
  } else if (protocol !== "http2") {
    throw new UsageError(
      `Flag "-${used[0]}" applies to an http2 listener: add -protocol http2${
        used[0] === "upstream" ? " (or http3)" : ""
      }`,
    );
  }
  const out: Http2FlagConfig = {};
  const upstream = values.upstream as string | undefined;
  if (upstream !== undefined) {
    if (upstream !== "http1" && upstream !== "h2c") {
      throw new UsageError(`Flag "-upstream" cannot be "${upstream}": use http1 or h2c`);
    }
    out.upstream = upstream;
  }
  if (values.h2c === true) out.h2c = true;
  if (values.http3 === true) {
    if (out.h2c) {
      throw new UsageError(
        'Flag "-http3" cannot be combined with -h2c: HTTP/3 runs over QUIC, which is always encrypted; use -cert FILE -key FILE instead of -h2c',
      );
    }
    out.http3 = true;
  }
  const allow = values["connect-allow"] as string | undefined;
  if (allow !== undefined) {
    const patterns = allow.split(",").map((p) => p.trim());
    if (patterns.some((p) => p === "")) {
      throw new UsageError(
        `Flag "-connect-allow" cannot be "${allow}": list host:port patterns separated by commas, e.g. db:5432,*.example.com:443`,
      );
    }
    out.connectAllow = patterns;
  }
  const altSvc = values["alt-svc"] as string | undefined;
  if (altSvc !== undefined) {
    if (altSvc.trim() === "") {
      throw new UsageError('Flag "-alt-svc" cannot be empty: give the HTTP/3 port (e.g. 443) or h3=":443"; ma=86400');
    }
    out.altSvc = /^\d+$/.test(altSvc) ? Number(altSvc) : altSvc;
  }
  return out;
}
