/**
 * Internal: the request helper every HTTP provider uses (per-request timeout, the caller's
 * signal, the body always read), {@linkcode VendorError} for failures before the operation is
 * known, and {@linkcode runOperation}, which turns them into a {@linkcode DnsProviderError}.
 * @module
 */
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  type DnsHttpProviderOptions,
  type DnsOperation,
  DnsProviderError,
  type FetchFn,
} from "./provider.ts";

/** A vendor failure; {@linkcode runOperation} adds the provider, operation and name. */
export class VendorError extends Error {
  /** The HTTP status, when a response came. */
  readonly status: number | undefined;
  /** The vendor's error code, when it sent one. */
  readonly code: string | undefined;

  constructor(message: string, options: { status?: number; code?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "VendorError";
    this.status = options.status;
    this.code = options.code;
  }
}

/** What a vendor's error body says. */
export interface VendorFault {
  code?: string;
  message?: string;
}

/** A vendor response that was read to the end. */
export interface VendorResponse {
  status: number;
  text: string;
}

/** How a provider sends requests: resolved from {@linkcode DnsHttpProviderOptions} once. */
export interface HttpClient {
  readonly baseUrl: string;
  readonly fetch: FetchFn | undefined;
  readonly timeoutMs: number;
  /** Reads the vendor's error body. */
  readonly faultOf: (status: number, text: string) => VendorFault;
}

/**
 * Applies the defaults of {@linkcode DnsHttpProviderOptions}.
 *
 * @param options The provider's options.
 * @param defaultBaseUrl The vendor's public API.
 * @param faultOf Reads the vendor's error body.
 */
export function httpClient(
  options: DnsHttpProviderOptions,
  defaultBaseUrl: string,
  faultOf: (status: number, text: string) => VendorFault,
): HttpClient {
  const { baseUrl = defaultBaseUrl, fetch, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS } = options;
  if (!(requestTimeoutMs > 0)) {
    throw new RangeError(
      `Cannot create DNS provider as 'requestTimeoutMs' must be positive: current value is ${requestTimeoutMs}`,
    );
  }
  return { baseUrl: baseUrl.replace(/\/+$/, ""), fetch, timeoutMs: requestTimeoutMs, faultOf };
}

/**
 * Sends one request and reads the whole body. A status outside 2xx (and not in `accept`)
 * throws a {@linkcode VendorError} with what the vendor said; so do network failures and the
 * client's timeout. An abort of `signal` rejects with its reason.
 */
export async function send(
  client: HttpClient,
  pathOrUrl: string,
  init: RequestInit & { signal?: AbortSignal; accept?: readonly number[] },
): Promise<VendorResponse> {
  const { signal, accept = [], ...rest } = init;
  signal?.throwIfAborted();
  const url = /^https?:/.test(pathOrUrl) ? pathOrUrl : client.baseUrl + pathOrUrl;
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new VendorError(`no response within ${client.timeoutMs} ms`)),
    client.timeoutMs,
  );
  let response: VendorResponse;
  try {
    const fetchFn = client.fetch ?? globalThis.fetch;
    const res = await fetchFn(url, { ...rest, signal: controller.signal });
    response = { status: res.status, text: await res.text() };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (controller.signal.reason instanceof VendorError) throw controller.signal.reason;
    throw new VendorError(`request failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
  if ((response.status >= 200 && response.status < 300) || accept.includes(response.status)) return response;
  const fault = client.faultOf(response.status, response.text);
  throw new VendorError(fault.message || response.text.slice(0, 200) || `status ${response.status}`, {
    status: response.status,
    code: fault.code,
  });
}

/** Parses JSON, or throws a {@linkcode VendorError} naming the status. */
export function parseJson<T>(response: VendorResponse): T {
  try {
    return JSON.parse(response.text) as T;
  } catch (cause) {
    throw new VendorError(`unexpected response body: ${response.text.slice(0, 200)}`, {
      status: response.status,
      cause,
    });
  }
}

/** Parses a JSON error body, or returns nothing. */
export function jsonFault<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/**
 * Lower-cases `fqdn` and strips a trailing dot.
 *
 * @throws {TypeError} If it is not a dotted DNS name.
 */
export function normalizeFqdn(fqdn: string): string {
  const name = String(fqdn).toLowerCase().replace(/\.$/, "");
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(name) || name.split(".").some((label) => label.length > 63)) {
    throw new TypeError(
      `Cannot use "${fqdn}" as a TXT record name: expected a dotted DNS name such as "_acme-challenge.example.com"`,
    );
  }
  return name;
}

/**
 * Runs one provider operation; a {@linkcode VendorError} becomes a {@linkcode DnsProviderError}
 * with the provider, operation and name. Aborts and argument errors pass through.
 */
export async function runOperation(
  provider: string,
  operation: DnsOperation,
  fqdn: string,
  fn: () => Promise<void>,
): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof VendorError)) throw error;
    throw new DnsProviderError({
      provider,
      operation,
      fqdn,
      status: error.status,
      vendorCode: error.code,
      vendorMessage: error.message,
      cause: error.cause ?? error,
    });
  }
}
