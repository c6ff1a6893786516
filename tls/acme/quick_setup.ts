/**
 * {@linkcode quickSetup}: go-tunnel's one-call `QuickSetup(email, domains...)`.
 * @module
 */
import { AutoManager } from "./auto_manager.ts";
import type { AutoManagerOptions } from "./options.ts";

/**
 * Creates an {@linkcode AutoManager} that agrees to the CA's terms with `email` as contact,
 * manages `domains` (one certificate each) and starts it. Certificates are ordered in the
 * background; await `manager.ready(domain)` to wait for one.
 *
 * @example One line to automatic TLS
 * ```ts ignore
 * import { quickSetup } from "@ts-tunnel/tunnel/tls";
 * const manager = await quickSetup("ops@example.com", ["example.com", "www.example.com"]);
 * ```
 * @param email The ACME account's contact address.
 * @param domains The names to manage.
 * @param options Any other manager option (CA, storage, challenges).
 * @returns The started manager; close it when done.
 * @throws {TypeError} If a name is not a valid DNS name.
 * @throws {UnsupportedChallengeError} If a wildcard is given without `dnsProvider`.
 */
export async function quickSetup(
  email: string,
  domains: readonly string[],
  options: Omit<AutoManagerOptions, "email" | "agreeTerms"> = {},
): Promise<AutoManager> {
  const manager = new AutoManager({ ...options, email, agreeTerms: true });
  try {
    await manager.addDomains(domains);
    await manager.start();
  } catch (error) {
    await manager.close();
    throw error;
  }
  return manager;
}
