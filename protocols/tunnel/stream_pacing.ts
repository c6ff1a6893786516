/**
 * Pacing of bulk streams on a QUIC tunnel session (capability `stream-pacing`,
 * docs/PROTOCOL.md section 7.2), the QUIC counterpart of the mux's bulk pacing.
 *
 * QUIC's flow control lets a bulk stream keep its whole window (about a megabyte on Deno's quinn,
 * which Deno does not let us lower) in flight. When the receiving process is the slowest stage,
 * those bytes wait in its UDP socket ahead of an interactive stream's packets. So while a session
 * writes interactive bursts beside bulk ones, its bulk streams' writes wait for a shared budget
 * ({@linkcode BulkRatePacer}) whose rate follows the round trip of `probe` messages, each answered
 * at once by the peer's `probe_ack` on the control channel.
 * @module
 */
import { BURST_WINDOW_MS, SendBurst } from "../_send_burst.ts";
import type { QuicWriteGate } from "../_quic_stream.ts";
import type { Conn } from "../types.ts";
import { TunnelError } from "./errors.ts";
import type { ProbeAckMessage, ProbeMessage } from "./messages.ts";
import { BulkRatePacer } from "./_rate_pacer.ts";
import { PING_GIVE_UP_MS, PING_SPACING_MS } from "./_mux_pacer.ts";
import type { TransportSession } from "./transport.ts";

/** The capability that turns stream pacing on (QUIC sessions only). */
export const STREAM_PACING_CAPABILITY = "stream-pacing";

/** What a QUIC session's stream pacing is doing (`TunnelClient.pacing`, `TunnelServer.clients()[].pacing`). */
export interface StreamPacingStats {
  /** True when both sides negotiated `stream-pacing`. */
  readonly enabled: boolean;
  /** The bulk streams' shared rate in bytes per millisecond now; 0 while draining, `null` while not pacing. */
  readonly rateBytesPerMs: number | null;
  /** Probes sent so far. */
  readonly probes: number;
  /** Bulk writes that waited for budget so far. */
  readonly delayedWrites: number;
}

/** A stream whose writes can be gated (the QUIC protocol's stream conns). */
interface GateableConn extends Conn {
  gateWrites(gate: QuicWriteGate): void;
}

function isGateable(conn: Conn): conn is GateableConn {
  return typeof (conn as Partial<GateableConn>).gateWrites === "function";
}

/**
 * Handles a `probe` (answered with `send`) or a `probe_ack` from the peer of `session`.
 * @throws {TunnelError} Coded `protocol` when the session did not negotiate `stream-pacing`.
 */
export async function onPacingMessage(
  session: TransportSession,
  message: ProbeMessage | ProbeAckMessage,
  send: (answer: ProbeAckMessage) => Promise<void>,
): Promise<void> {
  const pacing = session.pacing;
  if (!pacing?.enabled) {
    throw new TunnelError("protocol", `unexpected ${message.type}: ${STREAM_PACING_CAPABILITY} was not negotiated`);
  }
  if (message.type === "probe") await send(pacing.answer(message));
  else pacing.acknowledged(message);
}

/** One tracked stream. */
interface StreamState {
  /** Tells its interactive writes from bulk ones. */
  readonly burst: SendBurst;
  /** When a write of it last waited for budget (ms). */
  delayedAt: number;
}

/** A bulk write waiting for budget. */
interface WaitingWrite {
  readonly state: StreamState;
  readonly bytes: number;
  readonly resolve: () => void;
}

/**
 * A stream whose writes waited for budget within this long (ms) stays bulk, even if the waits made
 * its windows look quiet to {@linkcode SendBurst}: pacing must not turn what it slows into an
 * interactive stream.
 */
const DELAYED_STAYS_BULK_MS = 2 * BURST_WINDOW_MS;

/** Pacing state of one QUIC session: gates its streams' writes, sends probes, answers the peer's. */
export class QuicStreamPacing {
  readonly #pacer = new BulkRatePacer();
  /** Bulk writes waiting for budget, oldest first (at most one per stream: a stream writes one chunk at a time). */
  readonly #waiting: WaitingWrite[] = [];
  #sendProbe: ((probe: ProbeMessage) => Promise<void>) | undefined;
  #enabled = false;
  #seq = 0;
  /** The probe awaited: its seq and send time. */
  #probe: { seq: number; sentAt: number } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDue = 0;
  #probes = 0;
  #delayedWrites = 0;

  /** True once {@linkcode QuicStreamPacing.enable} ran: both sides negotiated `stream-pacing`. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** What pacing is doing now. */
  stats(): StreamPacingStats {
    const rate = this.#pacer.rateAt(performance.now());
    return {
      enabled: this.#enabled,
      rateBytesPerMs: rate === Infinity ? null : rate,
      probes: this.#probes,
      delayedWrites: this.#delayedWrites,
    };
  }

  /**
   * Turns pacing on, once both sides negotiated {@linkcode STREAM_PACING_CAPABILITY}.
   * @param sendProbe Sends a `probe` on the control channel.
   */
  enable(sendProbe: (probe: ProbeMessage) => Promise<void>): void {
    this.#enabled = true;
    this.#sendProbe = sendProbe;
  }

  /** Paces the writes of a stream of this session (opened or accepted), once enabled. */
  track(stream: Conn): void {
    if (!this.#sendProbe || !isGateable(stream)) return;
    const state: StreamState = { burst: new SendBurst(), delayedAt: -Infinity };
    stream.gateWrites((bytes) => this.#gate(state, bytes));
    stream.closed.then(() => this.#drop(state));
  }

  /** The answer to the peer's `probe`. */
  answer(probe: ProbeMessage): ProbeAckMessage {
    return { type: "probe_ack", seq: probe.seq };
  }

  /** The peer answered a probe: its round trip steers the rate; waiting writes that now fit go. */
  acknowledged(message: ProbeAckMessage): void {
    const probe = this.#probe;
    if (!probe || message.seq !== probe.seq) return; // given up, or not ours
    this.#probe = undefined;
    const now = performance.now();
    this.#pacer.sample(now - probe.sentAt, now);
    this.#tick(now);
  }

  /** Ends pacing: waiting writes go, no more probes. Idempotent. */
  close(): void {
    this.#sendProbe = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const waiting of this.#waiting.splice(0)) waiting.resolve();
  }

  /** The write gate of a stream: undefined when `bytes` may go now. */
  #gate(state: StreamState, bytes: number): Promise<void> | undefined {
    const now = performance.now();
    if (state.burst.note(bytes, now) && state.burst.bulk) this.#pacer.forget(state);
    if (!state.burst.bulk && now - state.delayedAt >= DELAYED_STAYS_BULK_MS) {
      this.#pacer.noteInteractive(state, now);
      return undefined;
    }
    this.#pacer.expire(now);
    if (!this.#pacer.pacing && this.#waiting.length > 0) this.#tick(now); // pacing just ended: nothing waits
    if (!this.#sendProbe || !this.#pacer.pacesWrite(state, now)) return undefined;
    this.#probeSoon(now);
    if (this.#waiting.length === 0 && this.#pacer.take(bytes, now) === 0) return undefined;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting.push({ state, bytes, resolve });
    this.#delayedWrites++;
    this.#tick(now);
    return promise;
  }

  /** Lets waiting writes go while there is budget, then sends a probe or sets the timer as needed. */
  #tick(now: number): void {
    this.#pacer.expire(now);
    if (this.#releaseFitting(now) === 0) return;
    this.#probeSoon(now);
    const wait = this.#releaseFitting(now); // a given-up probe may have ended a drain, or pacing itself
    if (wait > 0) this.#timerIn(wait);
  }

  /** Lets waiting writes go, oldest first, while there is budget (all of them once pacing ended); returns ms until the next fits (0: none waits). */
  #releaseFitting(now: number): number {
    const waiting = this.#waiting;
    while (waiting.length > 0) {
      const wait = this.#pacer.take(waiting[0].bytes, now);
      if (wait > 0) return wait;
      this.#release(waiting.shift()!, now);
    }
    return 0;
  }

  /** Sends a probe when the pacer wants one; while writes wait, makes sure the timer looks again. */
  #probeSoon(now: number): void {
    const sendProbe = this.#sendProbe;
    if (!sendProbe) return;
    const awaited = this.#probe;
    if (awaited) {
      if (now - awaited.sentAt < PING_GIVE_UP_MS) return this.#timerIn(awaited.sentAt + PING_GIVE_UP_MS - now);
      this.#probe = undefined; // unanswered: given up
      this.#pacer.lost(now);
    }
    if (!this.#pacer.wantPing(now)) {
      if (this.#pacer.pacing) this.#timerIn(PING_SPACING_MS);
      return;
    }
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    this.#probe = { seq, sentAt: now };
    this.#probes++;
    this.#timerIn(PING_GIVE_UP_MS); // writes waiting on its answer look again if none comes
    sendProbe({ type: "probe", seq }).catch(() => {
      if (this.#probe?.seq !== seq) return;
      this.#probe = undefined;
      const now = performance.now();
      this.#pacer.lost(now);
      this.#tick(now);
    });
  }

  /** Lets a waiting write go. */
  #release(waiting: WaitingWrite, now: number): void {
    waiting.state.delayedAt = now;
    waiting.resolve();
  }

  /** A stream ended: its waiting write (if any) goes at once, without taking budget; its own write then fails. */
  #drop(state: StreamState): void {
    const i = this.#waiting.findIndex((w) => w.state === state);
    if (i >= 0) this.#waiting.splice(i, 1)[0].resolve();
  }

  /** Runs `#tick` in `delayMs` while writes wait (an earlier run already due stays). */
  #timerIn(delayMs: number): void {
    if (this.#waiting.length === 0 || delayMs === Infinity || !this.#sendProbe) return;
    const due = performance.now() + delayMs;
    if (this.#timer !== undefined) {
      if (this.#timerDue <= due) return;
      clearTimeout(this.#timer);
    }
    this.#timerDue = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#tick(performance.now());
    }, Math.max(1, Math.ceil(delayMs)));
  }
}
