/**
 * Internal: the PING frames a mux session has sent and awaits a PONG for. The 8-byte payload is
 * a u32 zero then a u32 sequence number; a PONG nobody waits for is ignored.
 * @module
 */

interface Pending {
  sentAt: number;
  resolve(rttMs: number): void;
  reject(error: unknown): void;
}

/** Outstanding pings. */
export class Pings {
  #seq = 0;
  #pending = new Map<number, Pending>();

  /** Registers a ping: its sequence number, the PING payload and a promise of the round-trip time. */
  create(): { seq: number; payload: Uint8Array; rttMs: Promise<number> } {
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setUint32(4, seq);
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    this.#pending.set(seq, { sentAt: performance.now(), resolve, reject });
    return { seq, payload, rttMs: promise };
  }

  /** Stops waiting for `seq`, rejecting its promise with `reason`. */
  cancel(seq: number, reason: unknown): void {
    this.#pending.get(seq)?.reject(reason);
    this.#pending.delete(seq);
  }

  /** A PONG arrived with `payload` (8 bytes). */
  answer(payload: Uint8Array): void {
    const view = new DataView(payload.buffer, payload.byteOffset, 8);
    if (view.getUint32(0) !== 0) return;
    const seq = view.getUint32(4);
    const pending = this.#pending.get(seq);
    if (!pending) return;
    this.#pending.delete(seq);
    pending.resolve(performance.now() - pending.sentAt);
  }

  /** Rejects every outstanding ping. */
  failAll(error: unknown): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
