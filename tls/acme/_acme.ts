/**
 * Internal: npm `acme-client`, loaded on first use only (importing the core never pulls an npm
 * package), and trust of a private CA per directory origin. acme-client sends every request
 * through one shared axios instance, so a global `httpsAgent` would make two managers with
 * different CAs clobber each other; a request interceptor picks the agent by URL origin instead,
 * and applies the caller's abort signal (carried in an `AsyncLocalStorage`).
 * @module
 */
import type * as AcmeClient from "acme-client";
import { AsyncLocalStorage } from "node:async_hooks";

/** The acme-client module. */
export type Acme = typeof AcmeClient;
/** An acme-client `Client`. */
export type AcmeClientInstance = InstanceType<Acme["Client"]>;

let loading: Promise<Acme> | undefined;

/** Loads acme-client once (CommonJS: its exports sit on `default` under Deno and Bun). */
export function loadAcme(): Promise<Acme> {
  loading ??= import("acme-client").then((mod) => {
    const m = mod as unknown as { default?: Acme } & Acme;
    return m.default ?? m;
  });
  return loading;
}

const agents = new Map<string, unknown>();
const patched = new WeakSet<object>();
let context: AsyncLocalStorage<AbortSignal> | undefined;

function originOf(url: unknown): string | undefined {
  try {
    return typeof url === "string" ? new URL(url).origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` so that every acme-client request it makes is cancelled when `signal` aborts, and
 * none is retried after that (acme-client retries network errors for over a minute otherwise,
 * cancellations included).
 *
 * @param signal Cancels the requests.
 * @param fn The ACME calls.
 * @returns What `fn` resolves to; if `signal` aborted, its reason is thrown instead.
 */
export async function withSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  context ??= new AsyncLocalStorage<AbortSignal>();
  try {
    return await context.run(signal, fn);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error;
  }
}

/**
 * An axios cancel token (duck-typed: axios only calls these members) that cancels with an error
 * carrying no request `config`. acme-client's response interceptor retries every error that has
 * a `config` and no response, a cancellation included, after 5 s; an error without `config`
 * passes straight through, so a cancelled order stops at once.
 */
function cancelToken(signal: AbortSignal) {
  const cancelled = () => new Error("The ACME request was cancelled", { cause: signal.reason });
  const listeners = new Map<(reason: Error) => void, () => void>();
  return {
    get reason(): Error | undefined {
      return signal.aborted ? cancelled() : undefined;
    },
    throwIfRequested(): void {
      if (signal.aborted) throw cancelled();
    },
    subscribe(fn: (reason: Error) => void): void {
      if (signal.aborted) return fn(cancelled());
      const listener = () => fn(cancelled());
      listeners.set(fn, listener);
      signal.addEventListener("abort", listener, { once: true });
    },
    unsubscribe(fn: (reason: Error) => void): void {
      const listener = listeners.get(fn);
      listeners.delete(fn);
      if (listener) signal.removeEventListener("abort", listener);
    },
  };
}

/**
 * Installs, once per acme-client instance, the request interceptor that picks the HTTPS agent of
 * the request's origin and applies the signal given to {@linkcode withSignal}.
 */
function patch(acme: Acme): void {
  const axios = acme.axios as unknown as {
    interceptors: { request: { use(fn: (config: Record<string, unknown>) => Record<string, unknown>): void } };
  };
  if (patched.has(axios)) return;
  patched.add(axios);
  axios.interceptors.request.use((config) => {
    const origin = originOf(config.url);
    const agent = origin === undefined ? undefined : agents.get(origin);
    if (agent !== undefined && config.httpsAgent === undefined) config.httpsAgent = agent;
    const signal = context?.getStore();
    if (signal) {
      signal.throwIfAborted();
      config.cancelToken = cancelToken(signal);
    }
    return config;
  });
}

/**
 * Makes requests to `directoryUrl`'s origin trust exactly `caPem` (a private ACME server, or
 * pebble). Without `caPem`, the origin uses the runtime's default roots.
 *
 * @param acme The loaded module.
 * @param directoryUrl The ACME directory URL.
 * @param caPem PEM CA certificates to trust for that origin.
 */
export async function trustCa(
  acme: Acme,
  directoryUrl: string,
  caPem: string | readonly string[] | undefined,
): Promise<void> {
  patch(acme);
  const origin = new URL(directoryUrl).origin;
  if (caPem === undefined) {
    agents.delete(origin);
    return;
  }
  const { Agent } = await import("node:https");
  agents.set(origin, new Agent({ ca: typeof caPem === "string" ? caPem : [...caPem], keepAlive: false }));
}

/** The kind of certificate key to generate. */
export type KeyType = "ecdsa" | "rsa";

/** Creates a private key for a certificate or an account (PEM). */
export async function createKey(acme: Acme, keyType: KeyType): Promise<string> {
  const key = keyType === "rsa"
    ? await acme.crypto.createPrivateRsaKey(2048)
    : await acme.crypto.createPrivateEcdsaKey();
  return key.toString();
}
