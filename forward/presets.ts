/**
 * go-tunnel's configuration presets, with their values spelled out. `bench/` measures their effect.
 * @module
 */
import { BUFFER_SIZE_DEFAULT, BUFFER_SIZE_LARGE, type TunnelConfig } from "./config.ts";

/** A preset: every tuning field of {@linkcode TunnelConfig}, without the addresses. */
export type TunnelPreset = Omit<TunnelConfig, "listenAddr" | "targetAddr"> & { listenAddr: string; targetAddr: string };

/**
 * For a tunnel server or gateway with many concurrent connections: 32 KiB reads (less memory per
 * busy connection), 2 MiB / 1 MiB backpressure watermarks, a 5-minute idle timeout, 100,000
 * connections at most.
 *
 * @returns A fresh config; set `listenAddr` and `targetAddr`.
 */
export function serverPreset(): TunnelPreset {
  return {
    listenAddr: "",
    targetAddr: "",
    mode: "server",
    bufferSize: 32 * 1024,
    maxConnections: 100_000,
    connectionTimeoutMs: 5 * 60_000,
    backpressureHighWatermark: 2 * 1024 * 1024,
    backpressureLowWatermark: 1024 * 1024,
    tcpNoDelay: true,
  };
}

/**
 * For a tunnel client with few, busy connections: 64 KiB reads, 1 MiB / 512 KiB watermarks,
 * no idle timeout, no connection limit.
 *
 * @returns A fresh config; set `listenAddr` and `targetAddr`.
 */
export function clientPreset(): TunnelPreset {
  return {
    listenAddr: "",
    targetAddr: "",
    mode: "client",
    bufferSize: BUFFER_SIZE_DEFAULT,
    maxConnections: 0,
    connectionTimeoutMs: 0,
    backpressureHighWatermark: 1024 * 1024,
    backpressureLowWatermark: 512 * 1024,
    tcpNoDelay: true,
  };
}

/**
 * For bulk transfers where responses dwarf requests (downloads, video): 256 KiB reads
 * (`BufferSizeLarge`), 4 MiB / 2 MiB watermarks.
 *
 * @returns A fresh config; set `listenAddr` and `targetAddr`.
 */
export function highThroughputPreset(): TunnelPreset {
  return {
    listenAddr: "",
    targetAddr: "",
    mode: "client",
    bufferSize: BUFFER_SIZE_LARGE,
    maxConnections: 0,
    connectionTimeoutMs: 0,
    backpressureHighWatermark: 4 * 1024 * 1024,
    backpressureLowWatermark: 2 * 1024 * 1024,
    tcpNoDelay: true,
  };
}

/** The presets by their CLI names. */
export const PRESETS: Readonly<Record<string, () => TunnelPreset>> = {
  server: serverPreset,
  client: clientPreset,
  "high-throughput": highThroughputPreset,
};
