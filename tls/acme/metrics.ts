/**
 * {@linkcode AcmeMetrics}: the ACME manager's Prometheus series, fed through its
 * {@linkcode AcmeObserver}. prom-client is imported only when {@linkcode AcmeMetrics.create}
 * runs. Series, under a namespace (default `ts_tunnel`) and labelled by `domain`:
 * `_cert_expiry_seconds` (time left on the certificate serving the name),
 * `_cert_renewals_total` and `_cert_renewal_failures_total`.
 * @module
 */
import type * as PromClient from "prom-client";
import type { AcmeObserver } from "./observer.ts";

/** The part of a prom-client `Registry` the series need; pass a `Registry` instance. */
export interface PromRegistry {
  /** The exposition format's content type. */
  readonly contentType: string;
  /** The exposition text. */
  metrics(): Promise<string>;
  /** Adds a metric (prom-client calls it for the series created here). */
  registerMetric(metric: unknown): void;
}

/** Options for {@linkcode AcmeMetrics.create}. */
export interface AcmeMetricsOptions {
  /** Prefix of every series. @default {"ts_tunnel"} */
  namespace?: string;
  /** The prom-client registry to add the series to (merge with the admin server's). @default {a new Registry} */
  registry?: PromRegistry;
  /** Time source of the expiry gauge. @default {Date.now} */
  now?: () => number;
}

/**
 * The certificate series of one or more managers.
 *
 * @example Export certificate expiry
 * ```ts ignore
 * import { AcmeMetrics, AutoManager } from "@ts-tunnel/tunnel/tls";
 * const metrics = await AcmeMetrics.create({ namespace: "edge" });
 * const manager = new AutoManager({ agreeTerms: true, observer: metrics.observer });
 * const text = await metrics.text(); // edge_cert_expiry_seconds{domain="example.com"} 5183999
 * ```
 */
export class AcmeMetrics {
  /** Pass as `AutoManagerOptions.observer` (or call from your own observer). */
  readonly observer: AcmeObserver;
  /** The content type of {@linkcode AcmeMetrics.text}. */
  readonly contentType: string;
  readonly #registry: PromRegistry;

  private constructor(prom: typeof PromClient, options: AcmeMetricsOptions) {
    const { namespace = "ts_tunnel", registry = new prom.Registry() as PromRegistry, now = Date.now } = options;
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(namespace)) {
      throw new TypeError(
        `Cannot use metrics namespace "${namespace}": use letters, digits and underscores, starting with a letter`,
      );
    }
    this.#registry = registry;
    this.contentType = registry.contentType;
    const registers = [registry as unknown as PromClient.Registry];
    const expiry = new Map<string, number>();
    new prom.Gauge({
      name: `${namespace}_cert_expiry_seconds`,
      help: "Seconds until the certificate serving the domain expires (negative once expired).",
      labelNames: ["domain"],
      registers,
      collect() {
        this.reset();
        for (const [domain, notAfter] of expiry) this.set({ domain }, Math.round((notAfter - now()) / 1000));
      },
    });
    const renewals = new prom.Counter({
      name: `${namespace}_cert_renewals_total`,
      help: "Certificates obtained or renewed from the ACME CA.",
      labelNames: ["domain"],
      registers,
    });
    const failures = new prom.Counter({
      name: `${namespace}_cert_renewal_failures_total`,
      help: "Failed attempts to obtain or renew a certificate.",
      labelNames: ["domain"],
      registers,
    });
    this.observer = {
      onCertificateChange(event) {
        for (const domain of event.domains) {
          if (event.certificate) expiry.set(domain, event.certificate.info.notAfter);
          else expiry.delete(domain);
        }
      },
      onIssued(event) {
        for (const domain of event.domains) renewals.inc({ domain });
      },
      onFailure(event) {
        for (const domain of event.domains) failures.inc({ domain });
      },
    };
  }

  /**
   * Loads prom-client and registers the series.
   *
   * @param options Namespace, registry and time source.
   * @returns The metrics.
   * @throws {TypeError} If the namespace is not a valid metric name prefix.
   */
  static async create(options: AcmeMetricsOptions = {}): Promise<AcmeMetrics> {
    const prom = await import("prom-client");
    const mod = prom as unknown as { default?: typeof PromClient } & typeof PromClient;
    return new AcmeMetrics(mod.default ?? mod, options);
  }

  /** The Prometheus exposition text of the registry. */
  text(): Promise<string> {
    return this.#registry.metrics();
  }
}
