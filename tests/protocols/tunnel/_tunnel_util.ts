/**
 * Fixtures for reverse-tunnel tests: a server and a client over a chosen transport, on loopback.
 * @module
 */
import { TunnelClient, type TunnelClientObserver } from "../../../protocols/tunnel/client.ts";
import type { TunnelClientConfig, TunnelServerConfig } from "../../../protocols/tunnel/config.ts";
import { TunnelServer, type TunnelServerObserver } from "../../../protocols/tunnel/server.ts";
import type { Protocol } from "../../../protocols/types.ts";
import type { QuicConnect, QuicListen } from "../../../protocols/tunnel/quic_transport.ts";
import type { TestCerts } from "../../_util/certs.ts";
import type { TunnelMetrics } from "../../../ha/metrics.ts";
import { authTranscript, clientMac, randomNonce } from "../../../protocols/tunnel/auth.ts";
import type { ChallengeMessage } from "../../../protocols/tunnel/messages.ts";

/** A token long enough for the config checks. */
export const TOKEN = "test-token-0123456789abcdef";

let certsSource: (() => Promise<TestCerts>) | undefined;

/** The certificates the fixtures use: the process's test set unless {@linkcode useFixtureCerts} said otherwise. */
async function fixtureCerts(): Promise<TestCerts> {
  if (certsSource) return await certsSource();
  const { testCerts } = await import("../../_util/certs.ts");
  return await testCerts();
}

/**
 * Makes the fixtures take their certificates from `source` (a server and a client in separate
 * processes must share one CA; each process's test set has its own).
 */
export function useFixtureCerts(source: () => Promise<TestCerts>): void {
  certsSource = source;
}

/** Which transport a scenario runs on, and how to make its protocols. */
export interface TransportFixture {
  readonly name: "tcp" | "tls" | "quic";
  serverProtocol(): Promise<Protocol | undefined>;
  clientProtocol(): Promise<Protocol | undefined>;
  serverQuic?(): Promise<QuicListen>;
  clientQuic?(): Promise<QuicConnect>;
}

/** Plain TCP (the mux without TLS). */
export const TCP_TRANSPORT: TransportFixture = {
  name: "tcp",
  serverProtocol: () => Promise.resolve(undefined),
  clientProtocol: () => Promise.resolve(undefined),
};

/** TLS over TCP with the test CA; ALPN ts-tunnel/1 on both ends. */
export const TLS_TRANSPORT: TransportFixture = {
  name: "tls",
  async serverProtocol() {
    const { TlsProtocol } = await import("../../../protocols/tls.ts");
    const certs = await fixtureCerts();
    return new TlsProtocol({
      server: { certFile: certs.fullchainFile, keyFile: certs.keyFile, alpnProtocols: ["ts-tunnel/1"] },
    });
  },
  async clientProtocol() {
    const { TlsProtocol } = await import("../../../protocols/tls.ts");
    const certs = await fixtureCerts();
    return new TlsProtocol({ client: { ca: certs.caPem, serverName: "localhost", alpnProtocols: ["ts-tunnel/1"] } });
  },
};

/** QUIC (ALPN ts-tunnel/1) with the test CA; the server also listens on TLS/TCP, as in production. */
export const QUIC_TRANSPORT: TransportFixture = {
  name: "quic",
  serverProtocol: TLS_TRANSPORT.serverProtocol,
  clientProtocol: () => Promise.resolve(undefined),
  async serverQuic() {
    const { serverQuic } = await import("../../../protocols/tunnel/serve.ts");
    const { defaultRuntime } = await import("../../../protocols/runtime.ts");
    const certs = await fixtureCerts();
    return serverQuic({ certFile: certs.fullchainFile, keyFile: certs.keyFile }, await defaultRuntime());
  },
  async clientQuic() {
    const { clientQuic } = await import("../../../protocols/tunnel/serve.ts");
    const { defaultRuntime } = await import("../../../protocols/runtime.ts");
    const certs = await fixtureCerts();
    return clientQuic(
      { serverAddr: "127.0.0.1:1", token: TOKEN, services: [] },
      { ca: certs.caPem, serverName: "localhost" },
      await defaultRuntime(),
    );
  },
};

/** Every transport, by name. */
export const TRANSPORT_FIXTURES: Readonly<Record<"tcp" | "tls" | "quic", TransportFixture>> = {
  tcp: TCP_TRANSPORT,
  tls: TLS_TRANSPORT,
  quic: QUIC_TRANSPORT,
};

/** A range of ports unlikely to be in use, different per test file run. */
export function portRange(): { min: number; max: number; text: string } {
  const min = 20_000 + Math.floor(Math.random() * 20_000);
  return { min, max: min + 199, text: `${min}-${min + 199}` };
}

/** Starts a server on 127.0.0.1:0 with one client token. */
export async function startServer(
  transport: TransportFixture,
  config: Partial<TunnelServerConfig> = {},
  observer?: TunnelServerObserver,
  metrics?: TunnelMetrics,
): Promise<TunnelServer> {
  const server = new TunnelServer({
    listenAddr: "127.0.0.1:0",
    transport: transport.name,
    tokens: { alice: TOKEN },
    bindHost: "127.0.0.1",
    portRange: portRange().text,
    ...config,
  }, { protocol: await transport.serverProtocol(), quic: await transport.serverQuic?.(), observer, metrics });
  await server.start();
  return server;
}

/** Creates (not starts) a client for `server`. */
export async function makeClient(
  transport: TransportFixture,
  serverPort: number,
  config: Partial<TunnelClientConfig> & Pick<TunnelClientConfig, "services">,
  observer?: TunnelClientObserver,
): Promise<TunnelClient> {
  return new TunnelClient({
    serverAddr: `127.0.0.1:${serverPort}`,
    transport: transport.name,
    clientId: "alice",
    token: TOKEN,
    reconnectInitialMs: 50,
    reconnectMaxMs: 500,
    ...config,
  }, { protocol: await transport.clientProtocol(), quic: await transport.clientQuic?.(), observer });
}

/** A relay in front of the server whose connections can be cut (a reset) or frozen (a silent black hole). */
export async function startCuttableRelay(
  targetPort: number,
): Promise<{ port: number; cut(): void; freeze(): void } & AsyncDisposable> {
  const net = await import("node:net");
  const sockets = new Set<import("node:net").Socket>();
  const freezers = new Set<() => void>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, "127.0.0.1");
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    let frozen = false; // a frozen pair drops bytes and closes silently: a black hole
    freezers.add(() => frozen = true);
    inbound.on("data", (chunk: Uint8Array) => frozen || outbound.write(chunk));
    outbound.on("data", (chunk: Uint8Array) => frozen || inbound.write(chunk));
    inbound.on("close", () => frozen || outbound.destroy());
    outbound.on("close", () => frozen || inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port: (server.address() as import("node:net").AddressInfo).port,
    cut,
    freeze: () => {
      for (const freeze of freezers) freeze();
      freezers.clear();
    },
    async [Symbol.asyncDispose]() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A hand-driven client session: speaks the wire protocol step by step, for attack scenarios. */
export async function rawSession(serverPort: number) {
  const { TcpProtocol } = await import("../../../protocols/tcp.ts");
  const { MuxTransportSession } = await import("../../../protocols/tunnel/transport.ts");
  const { ControlChannel } = await import("../../../protocols/tunnel/control_channel.ts");
  const conn = await new TcpProtocol().dial({ hostname: "127.0.0.1", port: serverPort });
  const session = new MuxTransportSession(conn, "tcp", "client");
  const control = new ControlChannel(session.control);
  return {
    control,
    session,
    [Symbol.dispose]() {
      session.close();
    },
  };
}

/**
 * Says `hello` as "alice" on a raw session and answers the challenge honestly with {@linkcode TOKEN};
 * returns the challenge and the MAC sent (the server's `welcome` or `error` is left to read).
 */
export async function rawAuthenticate(
  raw: Awaited<ReturnType<typeof rawSession>>,
  capabilities: string[],
  clientNonce: string = randomNonce(),
): Promise<{ challenge: ChallengeMessage; mac: string }> {
  await raw.control.send({ type: "hello", version: 1, capabilities, clientId: "alice", clientNonce });
  const challenge = await raw.control.receive();
  if (challenge.type !== "challenge") throw new Error(`expected a challenge, got ${JSON.stringify(challenge)}`);
  const transcript = authTranscript({
    clientId: "alice",
    sessionId: challenge.sessionId,
    capabilities: challenge.capabilities,
    clientNonce,
    serverNonce: challenge.serverNonce,
  });
  const mac = clientMac(TOKEN, transcript);
  await raw.control.send({ type: "auth", mac });
  return { challenge, mac };
}
