/**
 * Test helper: runs gtlsclient (ngtcp2-client from Debian, a real HTTP/3 client on nghttp3) and
 * keeps each stream's response head from its `http:` log lines; the QUIC debug log goes by.
 * @module
 */
import { spawn, spawnSync } from "node:child_process";

/** Default upper bound for one gtlsclient run. */
const DEFAULT_TIMEOUT_MS = 60_000;

/** Why gtlsclient cannot run here, or `false`. */
export const noGtlsclient: string | false = spawnSync("sh", ["-c", "command -v gtlsclient"]).status === 0
  ? false
  : "gtlsclient is not installed (apt-get install ngtcp2-client); .ci/run installs it";

/** One response as gtlsclient prints it (`http: stream 0x4 [name: value]`). */
export interface H3Response {
  status: number | undefined;
  headers: Map<string, string>;
}

/**
 * Runs `gtlsclient [args] 127.0.0.1 PORT URI...` with SNI `localhost`, exiting once every stream
 * closed; killed after `timeoutMs`. Resolves to the exit code and the responses by stream id.
 */
export function runGtlsclient(
  port: number,
  args: string[],
  uris: string[],
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<{ code: number; streams: Map<string, H3Response> }> {
  const child = spawn("gtlsclient", [
    "--no-quic-dump",
    "--no-http-dump",
    "--exit-on-all-streams-close",
    "--sni=localhost",
    ...args,
    "127.0.0.1",
    String(port),
    ...uris,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  const streams = new Map<string, H3Response>();
  let carry = "";
  const decoder = new TextDecoder();
  child.stderr!.on("data", (chunk: Uint8Array) => {
    const lines = (carry + decoder.decode(chunk, { stream: true })).split("\n");
    carry = lines.pop() ?? "";
    for (const line of lines) {
      const m = /^http: stream (0x[0-9a-f]+) \[([^:]*:?[^:]*): (.*)\]$/.exec(line);
      if (!m) continue;
      const response = streams.get(m[1]) ?? { status: undefined, headers: new Map() };
      streams.set(m[1], response);
      if (m[2] === ":status") response.status = Number(m[3]);
      else response.headers.set(m[2], m[3]);
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) => {
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, streams });
    });
  });
}
