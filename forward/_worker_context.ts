/**
 * Internal: what passes between a tunnel's main thread and its worker threads: the start data,
 * the messages each way, errors in a form that survives `postMessage`, and the hidden role a
 * {@linkcode Tunnel} takes inside a worker (a `SO_REUSEPORT` listener, shared limits, ids that do
 * not collide with other workers'). The role is attached to the options object, so it never shows
 * in the public API.
 * @module
 */
import { NetError, type NetErrorCode, UnsupportedProtocolError } from "../protocols/errors.ts";
import type { ProtocolName } from "../protocols/types.ts";
import type { NetAddr } from "../protocols/types.ts";
import type { TunnelConfig } from "./config.ts";
import type { SharedConnectionLimits, SharedLimitsMemory } from "./_worker_limits.ts";

/** The `workerData` of a tunnel worker. */
export interface WorkerInit {
  /** The tunnel's config for this worker (`workers: 1`, the bound port, its share of per-worker budgets). */
  readonly config: TunnelConfig;
  /** This worker's index, from 0. */
  readonly index: number;
  /** How many workers the tunnel runs. */
  readonly count: number;
  /** Connection limits shared by all workers. */
  readonly limits: SharedLimitsMemory;
  /** The rows of counters (see `_worker_stats.ts`). */
  readonly stats: SharedArrayBuffer;
  /** Observer callbacks the main thread has: only these events are sent. */
  readonly events: readonly string[];
}

/** An error, as plain data. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly op?: string;
  readonly protocol?: string;
}

/** Messages from a worker. */
export type FromWorker =
  | {
    readonly type: "listening";
    readonly addr: NetAddr;
    readonly forwardPath: "splice" | "pump" | "owned";
    readonly spliceUnavailable?: string;
    readonly socketOptionsUnavailable?: string;
  }
  | { readonly type: "failed"; readonly error: WireError }
  | { readonly type: "event"; readonly name: string; readonly args: readonly unknown[] }
  | { readonly type: "stopped" };

/** Messages to a worker: drain and stop, or close every connection at once. */
export type ToWorker = { readonly type: "stop" } | { readonly type: "close" };

/** Turns an error into plain data (keeps `name`, `message` and a {@linkcode NetError}'s code). */
export function toWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const { code, op, protocol } = error as Partial<NetError>;
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === "string" ? { code, op, protocol } : {}),
    ...(error instanceof UnsupportedProtocolError ? { protocol: error.protocol } : {}),
  };
}

/** Rebuilds an error from {@linkcode toWire}'s data: `NetError` and `UnsupportedProtocolError` keep their class. */
export function fromWire(wire: WireError): Error {
  let error: Error;
  if (wire.name === "UnsupportedProtocolError") {
    error = new UnsupportedProtocolError(wire.protocol ?? "tcp", "");
  } else if (wire.code !== undefined) {
    error = new NetError(wire.code as NetErrorCode, wire.message, {
      op: (wire.op ?? "accept") as NetError["op"],
      protocol: (wire.protocol ?? "tcp") as ProtocolName,
    });
  } else {
    error = new Error(wire.message);
  }
  error.message = wire.message;
  error.name = wire.name;
  return error;
}

/** What a {@linkcode Tunnel} does differently inside a worker. */
export interface WorkerRole {
  /** Limits shared with the other workers. */
  readonly limits: SharedConnectionLimits;
  /** The first connection id (ids are unique across workers). */
  readonly firstId: number;
  /** The step between this worker's ids: the number of workers. */
  readonly idStep: number;
  /** This worker's even share of the limits that are not shared counters. */
  readonly share: {
    readonly acceptRatePerSecond: number;
    readonly acceptBurst: number;
    readonly maxBufferedBytes: number;
  };
}

/**
 * One worker's share of the limits kept per worker: the accept rate (a token bucket per worker,
 * each filling at 1/N of the rate) and the buffer-memory budget.
 */
export function workerShare(
  config: { acceptRatePerSecond: number; acceptBurst: number; maxBufferedBytes: number },
  workers: number,
): WorkerRole["share"] {
  const { acceptRatePerSecond: rate, acceptBurst: burst, maxBufferedBytes: memory } = config;
  return {
    acceptRatePerSecond: rate / workers,
    acceptBurst: rate > 0 ? Math.max(1, Math.ceil((burst || Math.ceil(rate)) / workers)) : 0,
    maxBufferedBytes: Math.ceil(memory / workers),
  };
}

const roles = new WeakMap<object, WorkerRole>();

/** Gives `options` (a `TunnelOptions` object) a worker's role. */
export function assignWorkerRole(options: object, role: WorkerRole): void {
  roles.set(options, role);
}

/** The worker role of `options`, if it has one. */
export function workerRoleOf(options: object): WorkerRole | undefined {
  return roles.get(options);
}

/** The observer callbacks a worker sends as messages (when the main thread's observer has them). */
export const FORWARDED_EVENTS = [
  "onAccept",
  "onReject",
  "onUpstream",
  "onConnectionEnd",
  "onAcceptError",
  "onSocketOptionsError",
] as const;

/** Which argument of each forwarded observer event is an error (`onConnectionEnd`: the `error` key of its argument). */
const ERROR_ARG: Readonly<Record<string, number>> = { onAcceptError: 0, onSocketOptionsError: 1 };

/** Copies an observer event's arguments with `convert` applied to the error in them, if any. */
function mapEventError(name: string, args: readonly unknown[], convert: (error: never) => unknown): unknown[] {
  const out = [...args];
  if (name === "onConnectionEnd") {
    const end = out[0] as { error?: never };
    if (end.error !== undefined) out[0] = { ...end, error: convert(end.error) };
  } else if (ERROR_ARG[name] !== undefined) {
    out[ERROR_ARG[name]] = convert(out[ERROR_ARG[name]] as never);
  }
  return out;
}

/** An observer event's arguments as plain data (errors through {@linkcode toWire}). */
export function eventToWire(name: string, args: readonly unknown[]): unknown[] {
  return mapEventError(name, args, toWire);
}

/** The reverse of {@linkcode eventToWire}. */
export function eventFromWire(name: string, args: readonly unknown[]): unknown[] {
  return mapEventError(name, args, fromWire);
}
