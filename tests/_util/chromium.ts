/**
 * Headless Chromium (the Debian `chromium` package) as a real browser peer: {@linkcode loadInChromium}
 * loads one URL in a fresh profile and returns the DOM after the page's scripts ran;
 * {@linkcode protocolReportPage} is a page that reports which protocol carried it and a `fetch()`,
 * and {@linkcode readProtocolReport} reads that report back from the DOM.
 *
 * Flags that work with Chromium 156 (Debian 12), found by trying them:
 * - a leaf from our test CA: `--ignore-certificate-errors-spki-list=<base64 SHA-256 of the leaf's SPKI>`
 *   is enough for TLS and for QUIC; `--ignore-certificate-errors` alone fails QUIC (ERR_QUIC_PROTOCOL_ERROR).
 * - HTTP/3: `--origin-to-force-quic-on=localhost:PORT` plus `--host-resolver-rules=MAP localhost 127.0.0.1`:
 *   without the map Chromium sends QUIC to `::1` only (ERR_QUIC_HANDSHAKE_FAILED against a 127.0.0.1 server).
 * - `--dump-dom` alone prints the DOM at the load event, before a `fetch()` ends; `--virtual-time-budget`
 *   makes it wait while requests are pending, so the dump holds the page's report.
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** Upper bound, in real time, for one Chromium run (it takes about a second). */
const RUN_TIMEOUT_MS = 30_000;
/** Virtual time the page gets after its requests finished; network waits do not count against it. */
const VIRTUAL_TIME_BUDGET_MS = 5_000;
/** How much of Chromium's stderr an error message quotes. */
const STDERR_TAIL = 2_000;

/** The path of the command `name` on `PATH`, or `undefined`. */
export function onPath(name: string): string | undefined {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return found.status === 0 && found.stdout.trim() || undefined;
}

/** The Chromium binary on `PATH` (`chromium`, or `chromium-browser` elsewhere), or `undefined`. */
export function chromiumBinary(): string | undefined {
  return onPath("chromium") ?? onPath("chromium-browser");
}

/** The skip reason for browser tests when Chromium is missing, or `false` when it is installed. */
export const chromiumMissing: string | false = chromiumBinary()
  ? false
  : "chromium is not installed (apt-get install --no-install-recommends chromium); .ci/run installs it";

/** The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, the form `--ignore-certificate-errors-spki-list` takes. */
export function spkiHash(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

/** Options for {@linkcode loadInChromium}. */
export interface ChromiumLoadOptions {
  /** The server's leaf certificate (PEM): Chromium accepts it although our test CA is not trusted. */
  trustLeafPem?: string;
  /** `host:port` that Chromium speaks HTTP/3 to directly (`--origin-to-force-quic-on`), without Alt-Svc. */
  forceQuicOn?: string;
  /** Real-time limit; Chromium is killed when it passes. @default {30_000} */
  timeoutMs?: number;
}

/** What one Chromium run gave. */
export interface ChromiumResult {
  /** The serialized DOM (`--dump-dom`). */
  dom: string;
  /** Chromium's log; it names the `net::ERR_*` of a failed load. */
  stderr: string;
  /** The flags used (without the URL). */
  flags: string[];
}

/** The flags for one run; the profile folder is fresh and removed afterwards. */
export function chromiumFlags(profileDir: string, options: ChromiumLoadOptions = {}): string[] {
  return [
    "--headless=new",
    "--no-sandbox", // the tests run as root
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking", // no update, sync or safe-browsing requests to the internet
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profileDir}`,
    "--host-resolver-rules=MAP localhost 127.0.0.1",
    ...(options.trustLeafPem ? [`--ignore-certificate-errors-spki-list=${spkiHash(options.trustLeafPem)}`] : []),
    ...(options.forceQuicOn ? [`--origin-to-force-quic-on=${options.forceQuicOn}`] : []),
    `--virtual-time-budget=${VIRTUAL_TIME_BUDGET_MS}`,
    "--dump-dom",
  ];
}

/**
 * Loads `url` in headless Chromium and resolves to the DOM once the page's requests are done.
 * Chromium runs in its own process group with a fresh profile (and `HOME`), and is killed, group and
 * all, after `timeoutMs`; the profile is removed on every path.
 *
 * @throws {Error} when Chromium is missing, exits with an error, or runs out of time (with its log).
 */
export async function loadInChromium(url: string, options: ChromiumLoadOptions = {}): Promise<ChromiumResult> {
  const binary = chromiumBinary();
  if (!binary) throw new Error(`Cannot load ${url} in a browser: ${chromiumMissing}`);
  const profileDir = await mkdtemp(join(tmpdir(), "ts-tunnel-chromium-"));
  try {
    const flags = chromiumFlags(profileDir, options);
    const env = { ...process.env, HOME: profileDir, XDG_CONFIG_HOME: profileDir, XDG_CACHE_HOME: profileDir };
    const child = spawn(binary, [...flags, url], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let dom = "", stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => dom += chunk);
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr = (stderr + chunk).slice(-STDERR_TAIL));
    let timedOut = false;
    const timeoutMs = options.timeoutMs ?? RUN_TIMEOUT_MS;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (exitCode) => resolve(exitCode));
    }).finally(() => clearTimeout(timer));
    killGroup(child.pid); // renderer and utility processes that outlived the browser process
    if (timedOut) {
      throw new Error(`Chromium did not finish loading ${url} within ${timeoutMs} ms; its log ends with:\n${stderr}`);
    }
    if (code !== 0) throw new Error(`Chromium exited with code ${code} loading ${url}; its log ends with:\n${stderr}`);
    return { dom, stderr, flags };
  } finally {
    await rm(profileDir, { recursive: true, force: true });
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // The group is already gone.
  }
}

/** Where {@linkcode protocolReportPage} sends its `fetch()`; serve any small body there. */
export const PROTOCOL_REPORT_FETCH_PATH = "/protocol-report/fetched";

/** What the page saw: `nextHopProtocol` of the navigation and of its `fetch()` ("h2", "h3", "http/1.1"). */
export interface ProtocolReport {
  navigation: string;
  fetch: string;
}

/**
 * An HTML page that writes `{"navigation": …, "fetch": …}` (the `nextHopProtocol` of its own
 * navigation and of a `fetch()` of {@linkcode PROTOCOL_REPORT_FETCH_PATH}) into `<pre id="report">`.
 */
export function protocolReportPage(): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>protocol report</title><link rel="icon" href="data:,"></head>
<body><pre id="report">pending</pre><script>
(async () => {
  const navigation = performance.getEntriesByType("navigation")[0].nextHopProtocol;
  const url = new URL(${JSON.stringify(PROTOCOL_REPORT_FETCH_PATH)}, location.href).href;
  const response = await fetch(url, { cache: "no-store" });
  await response.text();
  const entry = performance.getEntriesByName(url)[0];
  return { navigation, fetch: entry ? entry.nextHopProtocol : "no resource timing entry" };
})().then(
  (report) => document.getElementById("report").textContent = JSON.stringify(report),
  (error) => document.getElementById("report").textContent = "error: " + error,
);
</script></body></html>
`;
}

/**
 * Reads the report of {@linkcode protocolReportPage} from a dumped DOM.
 *
 * @throws {Error} quoting the report (or Chromium's log) when the page did not report.
 */
export function readProtocolReport(result: ChromiumResult): ProtocolReport {
  const text = /<pre id="report">([^<]*)<\/pre>/.exec(result.dom)?.[1];
  if (text === undefined) {
    const failure = /Page load failed: (\S+)/.exec(result.stderr)?.[1];
    throw new Error(
      `The page did not load${
        failure ? ` (${failure})` : ""
      }: no report in the DOM; Chromium's log ends with:\n${result.stderr}`,
    );
  }
  if (!text.startsWith("{")) throw new Error(`The page did not report its protocols: "${text}"`);
  return JSON.parse(text) as ProtocolReport;
}
