/**
 * Directory URLs of public ACME CAs (for `AutoManagerOptions.directoryUrl`), and External Account Binding credentials.
 * @module
 */

/** Let's Encrypt's production directory. */
export const LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
/** Let's Encrypt's staging directory: untrusted certificates, generous rate limits. */
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";
/** ZeroSSL's directory; it requires External Account Binding. */
export const ZEROSSL_PRODUCTION = "https://acme.zerossl.com/v2/DV90";

/** True when `text` is an `https:` (or, for a local CA, `http:`) URL: what an ACME directory URL can be. */
export function isDirectoryUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === "https:" || protocol === "http:";
  } catch {
    return false;
  }
}

/** External Account Binding credentials, issued by CAs such as ZeroSSL or Google Trust Services. */
export interface ExternalAccountBinding {
  /** The key identifier. */
  readonly kid: string;
  /** The base64url-encoded HMAC key. */
  readonly hmacKey: string;
}
