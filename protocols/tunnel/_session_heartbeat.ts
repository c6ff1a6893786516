/**
 * Internal: a session's heartbeats (docs/PROTOCOL.md section 7), over the control channel or, on a
 * QUIC session that negotiated `datagram-heartbeat`, over QUIC DATAGRAM frames (section 7.1): a
 * 9-byte PING (type 1, u32 `seq`, u32 `tag`) answered by a PONG (type 2) echoing `seq` and `tag`.
 * The same interval, deadline and miss rule apply either way ({@linkcode Heartbeat}).
 * @module
 */
import { Heartbeat, type HeartbeatPath, type HeartbeatStats } from "./heartbeat.ts";
import type { SessionDatagrams, TransportSession } from "./transport.ts";

/** The capability that moves heartbeats to QUIC datagrams (offered only where the session has datagrams). */
export const DATAGRAM_HEARTBEAT_CAPABILITY = "datagram-heartbeat";
/** Size of a heartbeat datagram: type (1 byte), `seq` (u32), `tag` (u32), big-endian. */
export const HEARTBEAT_DATAGRAM_BYTES = 9;
const PING = 1;
const PONG = 2;

/** Where heartbeats travel on `session`, given the negotiated capabilities. */
export function heartbeatPath(capabilities: readonly string[], session: TransportSession): HeartbeatPath {
  return capabilities.includes(DATAGRAM_HEARTBEAT_CAPABILITY) && session.datagrams ? "datagram" : "control";
}

/** Encodes a heartbeat datagram. */
export function encodeHeartbeatDatagram(type: "ping" | "pong", seq: number, tag: number): Uint8Array {
  const out = new Uint8Array(HEARTBEAT_DATAGRAM_BYTES);
  const view = new DataView(out.buffer);
  view.setUint8(0, type === "ping" ? PING : PONG);
  view.setUint32(1, seq >>> 0);
  view.setUint32(5, tag >>> 0);
  return out;
}

/** Decodes a heartbeat datagram; `undefined` for anything else (wrong length or type). */
export function decodeHeartbeatDatagram(
  data: Uint8Array,
): { type: "ping" | "pong"; seq: number; tag: number } | undefined {
  if (data.byteLength !== HEARTBEAT_DATAGRAM_BYTES) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = view.getUint8(0);
  if (type !== PING && type !== PONG) return undefined;
  return { type: type === PING ? "ping" : "pong", seq: view.getUint32(1), tag: view.getUint32(5) };
}

/** Options for {@linkcode SessionHeartbeat}. */
export interface SessionHeartbeatOptions {
  /** `datagram` needs `datagrams`. */
  path: HeartbeatPath;
  /** The session's datagrams (QUIC). */
  datagrams?: SessionDatagrams | undefined;
  /** Sends a control-channel `ping` (path `control`). */
  sendControlPing(seq: number, sentAt: number): Promise<void>;
  /** Time between pings. */
  intervalMs: number;
  /** Unanswered pings in a row that end the session. */
  misses: number;
  /** Called once, when the peer is declared dead. */
  onDead(missed: number): void;
}

/** Runs a session's heartbeats on the negotiated path and answers the peer's datagram pings. */
export class SessionHeartbeat {
  /** Where the heartbeats travel. */
  readonly path: HeartbeatPath;
  readonly #heartbeat: Heartbeat;
  readonly #datagrams: SessionDatagrams | undefined;
  readonly #stopping = new AbortController();
  readonly #tag = crypto.getRandomValues(new Uint32Array(1))[0];
  #pingsSent = 0;
  #pongsReceived = 0;
  #pingsAnswered = 0;
  #garbage = 0;

  /**
   * Starts the timer (and, on the datagram path, the datagram reader).
   *
   * @param options Path, interval, misses and callbacks.
   * @throws {RangeError} If the path is `datagram` without datagrams, or the interval or miss count is invalid.
   */
  constructor(options: SessionHeartbeatOptions) {
    const { path, datagrams } = options;
    if (path === "datagram" && !datagrams) {
      throw new RangeError("Cannot send heartbeats as datagrams: the session has none; use path 'control'");
    }
    this.path = path;
    this.#datagrams = path === "datagram" ? datagrams : undefined;
    this.#heartbeat = new Heartbeat({
      intervalMs: options.intervalMs,
      misses: options.misses,
      onDead: options.onDead,
      sendPing: (seq, sentAt) => {
        this.#pingsSent++;
        return this.#datagrams
          ? this.#datagrams.send(encodeHeartbeatDatagram("ping", seq, this.#tag))
          : options.sendControlPing(seq, sentAt);
      },
    });
    if (this.#datagrams) void this.#readDatagrams(this.#datagrams);
  }

  async #readDatagrams(datagrams: SessionDatagrams): Promise<void> {
    const signal = this.#stopping.signal;
    try {
      while (!signal.aborted) this.#onDatagram(datagrams, await datagrams.receive({ signal }));
    } catch { /* stopped, or the connection is gone: the session ends on its own */ }
  }

  #onDatagram(datagrams: SessionDatagrams, data: Uint8Array): void {
    const decoded = decodeHeartbeatDatagram(data);
    if (!decoded) {
      this.#garbage++;
    } else if (decoded.type === "ping") {
      this.#pingsAnswered++;
      datagrams.send(encodeHeartbeatDatagram("pong", decoded.seq, decoded.tag)).catch(() => {}); // lost like any datagram
    } else if (decoded.tag === this.#tag && this.#heartbeat.pong(decoded.seq)) {
      this.#pongsReceived++;
    } else {
      this.#garbage++; // stale, forged or not ours
    }
  }

  /** The caller answered a control-channel `ping` (counted). */
  controlPing(): void {
    this.#pingsAnswered++;
  }

  /** A control-channel `pong`; counts only on the control path. */
  controlPong(seq: number): void {
    if (this.path === "control" && this.#heartbeat.pong(seq)) this.#pongsReceived++;
  }

  /** The counters. */
  stats(): HeartbeatStats {
    return {
      path: this.path,
      pingsSent: this.#pingsSent,
      pongsReceived: this.#pongsReceived,
      pingsAnswered: this.#pingsAnswered,
      garbage: this.#garbage,
      lastRttMs: this.#heartbeat.lastRttMs,
    };
  }

  /** Stops the timer and the datagram reader. Idempotent. */
  stop(): void {
    this.#heartbeat.stop();
    this.#stopping.abort();
  }
}
