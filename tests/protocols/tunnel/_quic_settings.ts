/**
 * Fixtures for the tunnel's QUIC settings: a QUIC transport fixture built from a server and a
 * client config (as the CLI builds it), and a runtime that records the options of every QUIC
 * listen and connect.
 * @module
 */
import type { QuicConnectOptions, QuicListenOptions } from "../../../protocols/quic_types.ts";
import { defaultRuntime, type Runtime } from "../../../protocols/runtime.ts";
import type { TunnelClientConfig, TunnelServerConfig } from "../../../protocols/tunnel/config.ts";
import { clientQuic, serverQuic } from "../../../protocols/tunnel/serve.ts";
import { testCerts } from "../../_util/certs.ts";
import { QUIC_TRANSPORT, TOKEN, type TransportFixture } from "./_tunnel_util.ts";

/** The QUIC settings a tunnel config carries. */
export type QuicSettings = Pick<TunnelServerConfig, "maxStreamsPerSession" | "quicCongestionControl">;

/** What a {@linkcode recordingRuntime} saw. */
export interface QuicCalls {
  readonly listens: QuicListenOptions[];
  readonly connects: QuicConnectOptions[];
}

/** The running runtime, recording the options of each `listenQuic` and `connectQuic`. */
export async function recordingRuntime(): Promise<{ runtime: Runtime; calls: QuicCalls }> {
  const target = await defaultRuntime();
  const calls: QuicCalls = { listens: [], connects: [] };
  const runtime = new Proxy(target, {
    get(object, key) {
      if (key === "listenQuic") {
        return (options: QuicListenOptions) => (calls.listens.push(options), object.listenQuic!(options));
      }
      if (key === "connectQuic") {
        return (options: QuicConnectOptions) => (calls.connects.push(options), object.connectQuic!(options));
      }
      const value = Reflect.get(object, key);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
  return { runtime, calls };
}

/**
 * The QUIC transport fixture with the given server and client settings applied the way
 * `serveTunnelServer`/`serveTunnelClient` apply them (`serverQuic` and `clientQuic`).
 */
export function quicFixture(
  server: QuicSettings,
  client: QuicSettings,
  runtime?: Runtime,
): TransportFixture {
  return {
    ...QUIC_TRANSPORT,
    async serverQuic() {
      const certs = await testCerts();
      return serverQuic(
        { certFile: certs.fullchainFile, keyFile: certs.keyFile },
        runtime ?? await defaultRuntime(),
        server,
      );
    },
    async clientQuic() {
      const certs = await testCerts();
      const config: TunnelClientConfig = { serverAddr: "127.0.0.1:1", token: TOKEN, services: [], ...client };
      return clientQuic(config, { ca: certs.caPem, serverName: "localhost" }, runtime ?? await defaultRuntime());
    },
  };
}
