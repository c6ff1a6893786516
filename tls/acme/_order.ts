/**
 * Internal: one ACME order, from new-order to the issued chain (RFC 8555 §7.4), with the
 * challenge chosen per authorization: DNS-01 for wildcards and whenever a DNS provider is
 * configured, else HTTP-01, else TLS-ALPN-01. acme-client's own `auto()` is not used because it cannot wait for DNS propagation
 * against chosen nameservers, pick a challenge per name, or stop between steps on a signal.
 * @module
 */
import type { CertificatePair } from "./certificate.ts";
import type { DnsChallengeSolver } from "./dns01.ts";
import { type ChallengeType, UnsupportedChallengeError } from "./errors.ts";
import type { HttpChallengeResponder } from "./http01.ts";
import type { TlsAlpnResponder } from "./tlsalpn01.ts";
import { type Acme, type AcmeClientInstance, createKey, type KeyType } from "./_acme.ts";

/** How challenges can be answered. */
export interface Solvers {
  /** HTTP-01 tokens, when HTTP-01 is enabled; `ready` makes sure something serves them. */
  readonly http?: { responder: HttpChallengeResponder; ready(): Promise<() => Promise<void>> };
  /** DNS-01, when a provider is configured. */
  readonly dns?: DnsChallengeSolver;
  /** TLS-ALPN-01 certificates, when enabled (Bun); `ready` makes sure something serves them. */
  readonly tlsAlpn?: { responder: TlsAlpnResponder; ready(): Promise<() => Promise<void>> };
}

type Authorization = Awaited<ReturnType<AcmeClientInstance["getAuthorizations"]>>[number];
type Challenge = Authorization["challenges"][number];

function pick(authz: Authorization, solvers: Solvers): Challenge {
  const domain = authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value;
  const offered = new Map(authz.challenges.map((c) => [c.type as string, c]));
  const wanted: ChallengeType[] = authz.wildcard
    ? ["dns-01"]
    : solvers.dns
    ? ["dns-01", "http-01", "tls-alpn-01"]
    : ["http-01", "tls-alpn-01", "dns-01"];
  const enabled = wanted.filter((type) =>
    type === "dns-01" ? solvers.dns : type === "http-01" ? solvers.http : solvers.tlsAlpn
  );
  const usable = enabled.find((type) => offered.has(type));
  if (usable) return offered.get(usable)!;
  if (authz.wildcard && !solvers.dns) throw new UnsupportedChallengeError("dns-01", domain);
  throw new UnsupportedChallengeError(
    enabled[0] ?? wanted[0],
    domain,
    `the CA offered ${[...offered.keys()].join(", ") || "nothing"} and ${enabled.join(" or ")} is enabled`,
  );
}

/** Answers one authorization; the cleanup is pushed to `undo` and run once every authorization is done. */
async function solve(
  acme: Acme,
  client: AcmeClientInstance,
  authz: Authorization,
  solvers: Solvers,
  undo: (() => Promise<void>)[],
  signal: AbortSignal,
): Promise<void> {
  if (authz.status === "valid") return;
  const challenge = pick(authz, solvers);
  const domain = authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value;
  const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
  let completed = false;
  try {
    if (challenge.type === "dns-01") {
      undo.push(() => solvers.dns!.cleanup(domain, keyAuthorization));
      await solvers.dns!.present(domain, keyAuthorization, { signal });
    } else if (challenge.type === "http-01") {
      const stop = await solvers.http!.ready();
      solvers.http!.responder.set(challenge.token, keyAuthorization);
      undo.push(async () => {
        solvers.http!.responder.delete(challenge.token);
        await stop();
      });
    } else {
      const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
      const stop = await solvers.tlsAlpn!.ready();
      solvers.tlsAlpn!.responder.set(domain, { cert: cert.toString(), key: key.toString() });
      undo.push(async () => {
        solvers.tlsAlpn!.responder.delete(domain);
        await stop();
      });
    }
    signal.throwIfAborted();
    await client.completeChallenge(challenge);
    completed = true;
    await client.waitForValidStatus(challenge);
  } catch (error) {
    if (!completed) await client.deactivateAuthorization(authz).catch(() => {});
    throw error;
  }
}

/**
 * Orders a certificate for `domains` (the first one is the common name) and returns its chain
 * and a new key.
 *
 * @param acme The loaded acme-client.
 * @param client A client with a registered account.
 * @param domains The names, wildcards included.
 * @param solvers The challenge solvers.
 * @param options Key type, preferred chain and cancellation.
 */
export async function orderCertificate(
  acme: Acme,
  client: AcmeClientInstance,
  domains: readonly string[],
  solvers: Solvers,
  options: { keyType: KeyType; preferredChain?: string; signal: AbortSignal },
): Promise<CertificatePair> {
  const { keyType, preferredChain, signal } = options;
  const order = await client.createOrder({ identifiers: domains.map((value) => ({ type: "dns", value })) });
  signal.throwIfAborted();
  const authorizations = await client.getAuthorizations(order);
  // Cleanup waits for every authorization: a wildcard and its apex share one TXT name, and
  // withdrawing one value early could hide the other from the CA mid-validation.
  const undo: (() => Promise<void>)[] = [];
  const results = await Promise.allSettled(
    authorizations.map((authz) => solve(acme, client, authz, solvers, undo, signal)),
  );
  for (const step of undo) await step().catch(() => {}); // a leftover record must not fail the order
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  signal.throwIfAborted();
  const key = await createKey(acme, keyType);
  const commonName = domains[0].length <= 64 ? domains[0] : undefined;
  const [, csr] = await acme.crypto.createCsr({ commonName, altNames: [...domains] }, key);
  const finalized = await client.finalizeOrder(order, csr);
  const cert = await client.getCertificate(finalized, preferredChain);
  return { cert, key };
}
