/** Certificate storage on disk: layout per CA, 0600/0700 modes, atomic writes, mismatched keys read as absent. */
import assert from "node:assert/strict";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CertificateStorage, defaultStorageDir, readCertificateInfo } from "../../../tls/mod.ts";
import { createTestCerts, testCerts } from "../../_util/certs.ts";
import { test } from "../../_util/test.ts";
import { tempDir } from "./_setup.ts";

test("CertificateStorage saves and loads a certificate and an account, files 0600 in folders 0700", async () => {
  await using dir = await tempDir();
  const certs = await testCerts();
  const storage = new CertificateStorage(dir.path, "https://acme.example.org:14000/dir");
  assert.equal(storage.root, join(dir.path, "acme.example.org-14000-dir"));
  assert.equal(await storage.loadCertificate("localhost"), undefined);
  assert.equal(await storage.loadAccount(), undefined);

  const saved = await storage.saveCertificate(
    "localhost",
    { cert: certs.certPem + certs.caPem, key: certs.keyPem },
    1_700_000_000_000,
  );
  assert.deepEqual(saved.info.domains, ["localhost"]);
  const loaded = await storage.loadCertificate("localhost");
  assert.ok(loaded);
  assert.equal(loaded.cert, certs.certPem + certs.caPem);
  assert.equal(loaded.key, certs.keyPem);
  assert.equal(loaded.obtainedAt, 1_700_000_000_000);
  assert.deepEqual(loaded.info, readCertificateInfo(certs.certPem));
  assert.match(loaded.info.issuer, /CN=ts-tunnel Test CA/);

  await storage.saveAccount({ key: "-----BEGIN PRIVATE KEY-----\n…", url: "https://acme.example.org/acct/1" });
  assert.deepEqual(await storage.loadAccount(), {
    key: "-----BEGIN PRIVATE KEY-----\n…",
    url: "https://acme.example.org/acct/1",
  });

  const folder = join(storage.root, "certificates", "localhost");
  assert.deepEqual((await readdir(folder)).sort(), ["cert.pem", "key.pem", "meta.json"]);
  for (const file of [join(folder, "cert.pem"), join(folder, "key.pem"), join(storage.root, "account.key")]) {
    assert.equal((await stat(file)).mode & 0o777, 0o600, file);
  }
  for (const each of [storage.root, join(storage.root, "certificates"), folder]) {
    assert.equal((await stat(each)).mode & 0o777, 0o700, each);
  }
  assert.deepEqual(await storage.listCertificates(), ["localhost"]);
  await storage.deleteCertificate("localhost");
  assert.equal(await storage.loadCertificate("localhost"), undefined);
  assert.deepEqual(await storage.listCertificates(), []);
});

test("CertificateStorage reads a certificate whose key does not match (a write in progress) as absent", async () => {
  await using dir = await tempDir();
  const [a, b] = [await testCerts(), await createTestCerts("Other CA")];
  const storage = new CertificateStorage(dir.path, "https://ca.example/dir");
  await storage.saveCertificate("*.example.com", { cert: a.certPem, key: a.keyPem });
  const folder = join(storage.root, "certificates", "wildcard_.example.com");
  assert.ok(await storage.loadCertificate("*.example.com"));
  assert.deepEqual(await storage.listCertificates(), ["*.example.com"]);
  await writeFile(join(folder, "key.pem"), b.keyPem);
  assert.equal(await storage.loadCertificate("*.example.com"), undefined);
  await writeFile(join(folder, "cert.pem"), "garbage");
  assert.equal(await storage.loadCertificate("*.example.com"), undefined);
  assert.equal(JSON.parse(await readFile(join(folder, "meta.json"), "utf8")).domains[0], "localhost");
});

test("defaultStorageDir() follows XDG_DATA_HOME, then the home folder", () => {
  assert.equal(defaultStorageDir({ XDG_DATA_HOME: "/data" }), "/data/ts-tunnel/acme");
  assert.match(defaultStorageDir({}), /\/\.local\/share\/ts-tunnel\/acme$|\/ts-tunnel\/acme$/);
});
