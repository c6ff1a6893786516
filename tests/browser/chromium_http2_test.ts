/**
 * A real browser through our proxies: headless Chromium (Debian `chromium`) loads a page that reports
 * which protocol carried its navigation and a `fetch()`. Through the http2 proxy the page sees "h2";
 * through Caddy as an h3 reverse proxy (the reference, which validates the harness and its QUIC flags)
 * it sees "h3". The same check for our http3 listener waits for protocols/http3 to have a server.
 */
import assert from "node:assert/strict";
import { type TestCerts, testCerts } from "../_util/certs.ts";
import {
  chromiumMissing,
  loadInChromium,
  PROTOCOL_REPORT_FETCH_PATH,
  protocolReportPage,
  readProtocolReport,
} from "../_util/chromium.ts";
import { Http3Proxy } from "../../protocols/http3/mod.ts";
import { test } from "../_util/test.ts";
import { type Backend, startHttp1Backend, startProxy } from "../protocols/http2/_fixtures.ts";
import { caddyMissing, type H3Front, startCaddyH3 } from "./_caddy_h3.ts";

/** What the upstream saw for one request. */
interface Seen {
  url: string | undefined;
  forwardedProto: string | undefined;
}

/** An HTTP/1.1 upstream serving the protocol report page and the resource it fetches. */
async function startPageUpstream(): Promise<{ backend: Backend; seen: Seen[] }> {
  const seen: Seen[] = [];
  const backend = await startHttp1Backend((req, res) => {
    seen.push({ url: req.url, forwardedProto: req.headers["x-forwarded-proto"] as string | undefined });
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(protocolReportPage());
    } else if (req.url === PROTOCOL_REPORT_FETCH_PATH) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("fetched");
    } else {
      res.writeHead(404).end();
    }
  });
  return { backend, seen };
}

/** Starts an HTTPS + HTTP/3 reverse proxy on 127.0.0.1 in front of `target`, serving the test certificate. */
type StartH3Proxy = (target: string, certs: TestCerts) => Promise<H3Front>;

/** Chromium, forced onto QUIC, loads the page through the h3 proxy `start` gives: the page sees "h3". */
async function chromiumSeesH3Through(start: StartH3Proxy): Promise<void> {
  const certs = await testCerts();
  const { backend, seen } = await startPageUpstream();
  await using _backend = backend;
  await using front = await start(backend.target, certs);
  const authority = `localhost:${front.port}`;
  const result = await loadInChromium(`https://${authority}/`, { trustLeafPem: certs.certPem, forceQuicOn: authority });
  assert.deepEqual(readProtocolReport(result), { navigation: "h3", fetch: "h3" });
  assert.deepEqual(seen, [
    { url: "/", forwardedProto: "https" },
    { url: PROTOCOL_REPORT_FETCH_PATH, forwardedProto: "https" },
  ]);
}

test("Chromium loads a page through the http2 proxy over TLS: the page and its fetch() report h2", async () => {
  const certs = await testCerts();
  const { backend, seen } = await startPageUpstream();
  await using _backend = backend;
  await using proxy = await startProxy({ target: backend.target });
  const result = await loadInChromium(`https://localhost:${proxy.addr.port}/`, { trustLeafPem: certs.certPem });
  assert.deepEqual(readProtocolReport(result), { navigation: "h2", fetch: "h2" });
  assert.deepEqual(seen, [
    { url: "/", forwardedProto: "https" },
    { url: PROTOCOL_REPORT_FETCH_PATH, forwardedProto: "https" },
  ]);
  assert.equal(proxy.stats().requests, 2);
}, { ignore: chromiumMissing });

test("Caddy reference (validates the h3 harness): Chromium with --origin-to-force-quic-on reports h3", async () => {
  await chromiumSeesH3Through(startCaddyH3);
}, { ignore: chromiumMissing || caddyMissing });

/** Our http3 listener in front of `target` (UDP only: Chromium is forced onto QUIC for its origin). */
const startOurH3Proxy: StartH3Proxy = async (target, certs) => {
  const proxy = new Http3Proxy({ target, hostname: "127.0.0.1", cert: certs.certPem, key: certs.keyPem });
  await proxy.listen();
  return { port: proxy.addr.port, [Symbol.asyncDispose]: () => proxy.close() };
};

test("Chromium loads a page through our http3 listener: the page and its fetch() report h3", async () => {
  await chromiumSeesH3Through(startOurH3Proxy);
}, { ignore: chromiumMissing });
