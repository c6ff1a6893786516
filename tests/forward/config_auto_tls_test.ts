/** The YAML keys of http2 listeners and automatic TLS: go-tunnel's `options`, the `acme` section, and their errors. */
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../cli.ts";
import { ConfigError, parseConfigFile } from "../../forward/config_file.ts";
import { captureIo } from "../_util/admin.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";

test("parseConfigFile() reads go-tunnel's auto_tls options and the acme section into one ACME setup", () => {
  const file = parseConfigFile(`
options:
  auto_tls: "true"
  email: ops@example.com
  domains: "example.com, www.example.com"
  dns_provider: cloudflare
acme:
  directory: https://ca.internal/acme/directory
  ca_file: ./ca.pem
  cert_dir: /var/lib/ts-tunnel/acme
protocols:
  - name: tls
    listen: ":443"
    target: "127.0.0.1:8080"
    tls: { min_version: "1.3" }
  - name: http2
    listen: ":8443"
    target: "127.0.0.1:8081"
    upstream: h2c
    connect_allow: ["db.internal:5432"]
    alt_svc: 8443
  - name: tls
    listen: ":9443"
    target: "127.0.0.1:9000"
    tls: { cert_file: ./own.pem, key_file: ./own.key }
  - name: http2
    listen: ":8080"
    target: "127.0.0.1:8082"
    h2c: true
`);
  assert.deepEqual(file.autoTls, {
    email: "ops@example.com",
    domains: ["example.com", "www.example.com"],
    dnsProvider: "cloudflare",
    directoryUrl: "https://ca.internal/acme/directory",
    caFile: "./ca.pem",
    certDir: "/var/lib/ts-tunnel/acme",
  });
  const [tlsEntry, h2Entry, ownFiles, h2c] = file.tunnels;
  assert.equal(tlsEntry.autoTls, true);
  assert.deepEqual(tlsEntry.tls, { minVersion: "1.3" });
  assert.equal(h2Entry.autoTls, true);
  assert.equal(h2Entry.upstream, "h2c");
  assert.deepEqual(h2Entry.connectAllow, ["db.internal:5432"]);
  assert.equal(h2Entry.altSvc, 8443);
  assert.equal(ownFiles.autoTls, undefined, "an entry with its own files keeps them");
  assert.equal(ownFiles.tls?.certFile, "./own.pem");
  assert.equal(h2c.autoTls, undefined);
  assert.equal(h2c.h2c, true);
  assert.deepEqual(file.warnings, []);
});

test("parseConfigFile() rejects automatic TLS and http2 keys that do not fit, with the key path and the fix", () => {
  const entry = `protocols: [{ name: tls, listen: ":443", target: "127.0.0.1:80" }]`;
  const cases: [string, string][] = [
    [
      `options: { auto_tls: "true", domains: a.example.com }\n${entry}`,
      "options.email: missing; automatic TLS needs the ACME account's contact address",
    ],
    [
      `options: { auto_tls: "true", email: a@b.c }\n${entry}`,
      'options.domains: missing; list the names the certificate covers, e.g. "example.com"',
    ],
    [`options: { auto_tls: "yes" }\n${entry}`, 'options.auto_tls: "yes" is not a boolean; use "true" or "false"'],
    [`options: { email: a@b.c }\n${entry}`, 'options.email: applies to automatic TLS; set options.auto_tls: "true"'],
    [`acme: { directory: https://ca/d }\n${entry}`, 'acme: applies to automatic TLS; set options.auto_tls: "true"'],
    [
      `options: { auto_tls: "true", email: a@b.c, domains: "*.example.com" }\n${entry}`,
      'options.domains: "*.example.com" is a wildcard, which needs DNS-01: set options.dns_provider (cloudflare, alidns, route53, digitalocean, godaddy)',
    ],
    [
      `options: { auto_tls: "true", email: a@b.c, domains: a.example.com, staging: "true" }\nacme: { directory: https://ca/d }\n${entry}`,
      "acme.directory: cannot be combined with options.staging: use Let's Encrypt's staging CA or your own directory",
    ],
    [
      `options: { auto_tls: "true", email: a@b.c, domains: a.example.com }\nacme: { dir: x }\n${entry}`,
      "acme.dir: unknown key; allowed keys here: directory, ca_file, http, cert_dir",
    ],
    [
      `options: { auto_tls: "true", email: a@b.c, domains: a.example.com }\ntls: { cert_file: c.pem, key_file: k.pem }\n${entry}`,
      "tls.cert_file: cannot be combined with options.auto_tls (the certificate comes from ACME); remove it, or set it per entry to keep files there",
    ],
    [
      `options: { auto_tls: "true", email: a@b.c, domains: a.example.com }\nacme: { http: "80" }\n${entry}`,
      'acme.http: Cannot parse listen address "80": expected "host:port", for example "127.0.0.1:8080"; or use external or off',
    ],
    [
      `protocols: [{ name: tcp, listen: ":80", target: "127.0.0.1:81", upstream: h2c }]`,
      "protocols[0].upstream: applies to an http2 or http3 listener; set name: http2 (or http3), or remove it",
    ],
    [
      `protocols: [{ name: http2, listen: ":80", target: "127.0.0.1:81" }]`,
      'protocols[0].tls: missing; an http2 listener needs tls.cert_file and tls.key_file (here or at the top level), or options.auto_tls: "true"',
    ],
    [
      `protocols: [{ name: http2, listen: ":80", target: "127.0.0.1:81", h2c: true, tls: { cert_file: c } }]`,
      "protocols[0].tls: an h2c listener is cleartext HTTP/2; remove tls, or h2c",
    ],
    [
      `protocols: [{ name: http2, listen: ":80", target: "127.0.0.1:81", tls: { cert_file: c, key_file: k, alpn: [h2] } }]`,
      "protocols[0].tls.alpn: an http2 listener offers h2 and http/1.1 itself; remove alpn",
    ],
    [
      `protocols: [{ name: http2, listen: ":80", target: "127.0.0.1:81", h2c: true, connect_allow: "db:5432" }]`,
      'protocols[0].connect_allow: "db:5432" is not a list of host:port patterns; write for example ["db.internal:5432", "*.example.com:443"]',
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseConfigFile(text), (error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.message, message);
      return true;
    });
  }
  const unused = parseConfigFile(
    `options: { auto_tls: "true", email: a@b.c, domains: a.example.com }\nprotocols: [{ name: tcp, listen: ":80", target: "127.0.0.1:81" }]`,
  );
  assert.deepEqual(unused.warnings, [
    "options.auto_tls: not used, because no enabled tls or http2 listener takes its certificate from ACME",
  ]);
});

test("main() -config runs an h2c http2 entry, and starts the ACME manager of an auto_tls entry in the background", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-yaml-"));
  const backend = http.createServer((req, res) => res.end(`seen ${req.url}`));
  await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
  const notAcme = http.createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => notAcme.listen(0, "127.0.0.1", resolve));
  const port = (server: http.Server) => (server.address() as { port: number }).port;
  try {
    await writeFile(
      join(dir, "tunnels.yaml"),
      `
options: { auto_tls: "true", email: a@b.c, domains: yaml.example.com }
acme: { directory: "http://127.0.0.1:${port(notAcme)}/dir", http: "127.0.0.1:0", cert_dir: "${join(dir, "acme")}" }
protocols:
  - { name: http2, listen: "127.0.0.1:0", target: "127.0.0.1:${port(backend)}", h2c: true }
  - { name: tls, listen: "127.0.0.1:0", target: "127.0.0.1:${port(backend)}" }
`,
    );
    const io = captureIo();
    const stop = new AbortController();
    const exit = main(["-config", join(dir, "tunnels.yaml"), "-status", "off"], { io, signal: stop.signal });
    try {
      const h2cPort = await waitFor(
        () => Number(/listening tunnel="http2 .* addr=127\.0\.0\.1:(\d+)/.exec(io.err)?.[1]) || undefined,
        "the http2 listener",
      );
      const session = http2.connect(`http://127.0.0.1:${h2cPort}`);
      session.on("error", () => {});
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ":path": "/yaml" });
        let text = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => text += chunk);
        stream.on("end", () => resolve(text));
        stream.on("error", reject);
      });
      session.close();
      assert.equal(body, "seen /yaml");
      await waitFor(
        () => /cannot obtain the certificate; retrying domains=yaml\.example\.com/.test(io.err),
        "the ACME attempt",
      );
    } finally {
      stop.abort();
    }
    assert.equal(await exit, 0, io.err);
  } finally {
    backend.close();
    notAcme.close();
    await rm(dir, { recursive: true, force: true });
  }
});
