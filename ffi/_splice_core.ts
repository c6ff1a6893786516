/**
 * Internal: the splice machinery, runtime-neutral and synchronous. One epoll set; each pair's two
 * sockets are registered once, edge-triggered (`EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`), and
 * any event on a socket pumps both directions that touch it: `splice(src → pipe)` then
 * `splice(pipe → dst)`, nonblocking, until neither step moves a byte.
 *
 * State lives in typed arrays indexed by slot (per pair), by `slot * 2 + side` (per socket) and by
 * `slot * 2 + dir` (per direction; dir 0 is A→B, read from side 0): nothing is allocated on the
 * data path. Readiness is remembered per socket (edge-triggered epoll reports each change once):
 * a socket is read only while it may hold bytes and written only while it may take them.
 *
 * Pipes come from a {@linkcode PipePool} only while bytes are in flight, so an idle pair holds its
 * two sockets and nothing else; the pool sizes them adaptively.
 *
 * The sockets given to {@linkcode SpliceCore.add} are the core's own duplicates: it deregisters and
 * closes them when the pair ends, and never touches the runtime's fds.
 * @module
 */
import {
  EAGAIN,
  ECONNRESET,
  EINTR,
  ENOTCONN,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLLERR,
  EPOLLET,
  EpollEvents,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLLRDHUP,
  IPPROTO_TCP,
  type Libc,
  SHUT_WR,
  SO_ERROR,
  SOL_SOCKET,
  SPLICE_F_MOVE,
  SPLICE_F_NONBLOCK,
  TCP_INFO,
} from "./libc.ts";
import { PipePool } from "./_pipe_pool.ts";
import { END_CANCELLED, END_EOF, END_ERROR, END_IDLE, WHERE_WRITE } from "./_splice_shared.ts";

/** Receives the end of a pair: its slot, an `END_*` code, the errno (errors only) and where it failed. */
export type DoneCallback = (slot: number, end: number, errno: number, where: number) => void;

/** How the core is set up. */
export interface SpliceCoreConfig {
  readonly maxPairs: number;
  /** Pipe size to ask for (0 keeps the kernel default). */
  readonly pipeSize: number;
  readonly maxPooledPipes: number;
  /** An fd whose readability wakes the loop (an eventfd, drained here); -1 for none. */
  readonly wakeFd: number;
  /**
   * The sockets are the core's alone (the owned-sockets forwarder made them; no runtime holds
   * another fd of them): `close` alone leaves the epoll set, and no one else consumes a socket's
   * error, so the `EPOLL_CTL_DEL` before each close, the `TCP_INFO` look at end of stream and the
   * last direction's `shutdown` (the close that follows sends the FIN) are skipped: 4 system calls
   * per pair.
   */
  readonly ownsSockets?: boolean;
}

/** epoll `data` of the wake fd. */
const WAKE_DATA = 0xffffffff;
/** Rounds of (write, read) per direction and event before other pairs get a turn. */
const ROUNDS = 16;
/** Events taken per `epoll_wait`. */
const MAX_EVENTS = 256;
/** Longest single wait, so that the loop stays responsive and bounded. */
export const MAX_WAIT_MS = 1000;
const SPLICE_FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
/** How a pair's sockets are registered (see {@linkcode SpliceCore.add}'s `registered`). */
export const SOCKET_EVENTS = (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) >>> 0;
const READ_EVENTS = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
const WRITE_EVENTS = EPOLLOUT | EPOLLHUP | EPOLLERR;

/** `tcpi_state` of a closed TCP socket (`include/net/tcp_states.h`). */
const TCP_CLOSE = 7;

// Per-direction flags.
const F_EOF = 1; // the source reached end of stream
const F_SHUT = 2; // end of stream forwarded: shutdown(dst, SHUT_WR) done
const F_BLOCKED = 4; // pipe full and destination full: the source is not read (a pause)
// Per-socket readiness (edge-triggered epoll reports each change once).
const R_READABLE = 1;
const R_WRITABLE = 2;

/** The splice engine's loop state. Not thread-safe: one thread drives it. */
export class SpliceCore {
  /** The epoll fd. */
  readonly ep: number;
  /** The buffer `epoll_wait` fills. */
  readonly events: EpollEvents;
  /** Per slot: bytes A→B, bytes B→A, pauses (may be shared with the main thread). */
  readonly counters: Float64Array;
  /** The current time, in ms (`performance.now()`), set by the driver before each batch. */
  now = 0;

  #libc: Libc;
  #config: SpliceCoreConfig;
  #done: DoneCallback;
  // Per socket (slot * 2 + side).
  #sock: Int32Array;
  #ready: Uint8Array;
  // Per direction (slot * 2 + dir).
  #pipeR: Int32Array;
  #pipeW: Int32Array;
  #pipeCap: Int32Array;
  #inPipe: Int32Array;
  #flags: Uint8Array;
  // Per slot.
  #live: Uint8Array;
  #idleMs: Float64Array;
  #lastActive: Float64Array;
  #livePos: Int32Array;
  #liveList: Int32Array;
  #liveCount = 0;
  #inPending: Uint8Array;
  #pending: Int32Array;
  #pendingCount = 0;
  #idleCheckMs = MAX_WAIT_MS;
  #nextIdleCheck = Infinity;
  #idlePairs = 0;
  #pipes: PipePool;
  #drain = new Uint8Array(8);
  // The last failure, for #fail.
  #errno = 0;
  #where = 0;

  /**
   * Creates the epoll set and the state for `config.maxPairs` pairs.
   * @throws {Error} If `epoll_create1` fails.
   */
  constructor(libc: Libc, config: SpliceCoreConfig, counters: Float64Array, done: DoneCallback) {
    this.#libc = libc;
    this.#config = config;
    this.#done = done;
    this.counters = counters;
    const max = config.maxPairs;
    this.#sock = new Int32Array(2 * max).fill(-1);
    this.#ready = new Uint8Array(2 * max);
    this.#pipeR = new Int32Array(2 * max).fill(-1);
    this.#pipeW = new Int32Array(2 * max).fill(-1);
    this.#pipeCap = new Int32Array(2 * max);
    this.#inPipe = new Int32Array(2 * max);
    this.#flags = new Uint8Array(2 * max);
    this.#live = new Uint8Array(max);
    this.#idleMs = new Float64Array(max);
    this.#lastActive = new Float64Array(max);
    this.#livePos = new Int32Array(max).fill(-1);
    this.#liveList = new Int32Array(max);
    this.#inPending = new Uint8Array(max);
    this.#pending = new Int32Array(2 * max);
    this.#pipes = new PipePool(libc, config.pipeSize, config.maxPooledPipes);
    this.events = new EpollEvents(MAX_EVENTS, libc.epollEventSize);
    this.ep = libc.epoll_create1(EPOLL_CLOEXEC);
    if (this.ep < 0) throw new Error(`Cannot create the splice engine's epoll set: ${libc.strerror(libc.errno())}`);
    if (config.wakeFd >= 0 && libc.epoll_ctl(this.ep, EPOLL_CTL_ADD, config.wakeFd, EPOLLIN, WAKE_DATA) !== 0) {
      const errno = libc.errno();
      libc.close(this.ep);
      throw new Error(`Cannot watch the splice engine's wake fd: ${libc.strerror(errno)}`);
    }
  }

  /** Pairs being moved. */
  get liveCount(): number {
    return this.#liveCount;
  }

  /** Pipes holding bytes in flight. */
  get pipesInUse(): number {
    return this.#pipes.inUse;
  }

  /** Empty pipes kept for reuse. */
  get pipesPooled(): number {
    return this.#pipes.pooled;
  }

  /** The pipe size asked for now (0: the kernel default). */
  get pipeTarget(): number {
    return this.#pipes.target;
  }

  /** Times `F_SETPIPE_SZ` was refused. */
  get pipeRefusals(): number {
    return this.#pipes.refusals;
  }

  /** Pipes created since the start. */
  get pipesCreated(): number {
    return this.#pipes.created;
  }

  /**
   * Starts moving a pair. `sockA` and `sockB` become the core's: it closes them when the pair ends.
   * The first events arrive from epoll (registration reports the sockets' current readiness).
   * `registered`: both sockets are in the epoll set already, with {@linkcode SOCKET_EVENTS} and
   * data `slot * 2` (A) and `slot * 2 + 1` (B); events for a slot not yet added are ignored.
   */
  add(slot: number, sockA: number, sockB: number, idleMs: number, registered = false): void {
    const libc = this.#libc;
    const s = slot * 2;
    this.#sock[s] = sockA;
    this.#sock[s + 1] = sockB;
    this.#ready[s] = R_READABLE | R_WRITABLE;
    this.#ready[s + 1] = R_READABLE | R_WRITABLE;
    this.#flags[s] = 0;
    this.#flags[s + 1] = 0;
    this.#inPipe[s] = 0;
    this.#inPipe[s + 1] = 0;
    this.#live[slot] = 1;
    this.#livePos[slot] = this.#liveCount;
    this.#liveList[this.#liveCount++] = slot;
    this.#lastActive[slot] = this.now;
    this.#idleMs[slot] = idleMs;
    if (idleMs > 0) {
      this.#idlePairs++;
      const period = Math.min(MAX_WAIT_MS, Math.max(5, Math.floor(idleMs / 4)));
      if (period < this.#idleCheckMs) this.#idleCheckMs = period;
      this.#nextIdleCheck = Math.min(this.#nextIdleCheck, this.now + this.#idleCheckMs);
    }
    if (!registered && libc.epoll_ctl(this.ep, EPOLL_CTL_ADD, sockA, SOCKET_EVENTS, s) !== 0) {
      return this.#finish(slot, END_ERROR, libc.errno(), 0);
    }
    if (!registered && libc.epoll_ctl(this.ep, EPOLL_CTL_ADD, sockB, SOCKET_EVENTS, s + 1) !== 0) {
      return this.#finish(slot, END_ERROR, libc.errno(), 1);
    }
    this.#markPending(slot); // pump at once: bytes may be waiting already
  }

  /** Stops a pair (no-op if it already ended). */
  cancel(slot: number): void {
    if (this.#live[slot]) this.#finish(slot, END_CANCELLED, 0, 0);
  }

  /** Stops every pair. */
  cancelAll(): void {
    for (let i = this.#liveCount - 1; i >= 0; i--) this.#finish(this.#liveList[i], END_CANCELLED, 0, 0);
  }

  /** Milliseconds the next `epoll_wait` may block: 0 while pairs wait for a turn, else until the next idle check. */
  timeoutMs(): number {
    if (this.#pendingCount > 0) return 0;
    if (this.#idlePairs === 0) return MAX_WAIT_MS;
    const wait = Math.ceil(this.#nextIdleCheck - this.now);
    return wait <= 0 ? 0 : wait < MAX_WAIT_MS ? wait : MAX_WAIT_MS;
  }

  /** Handles the `n` events `epoll_wait` returned (n may be -1 or 0), then the pairs waiting for a turn and the idle check. */
  step(n: number): void {
    const events = this.events;
    for (let i = 0; i < n; i++) {
      const data = events.data(i);
      if (data === WAKE_DATA) {
        this.#libc.read(this.#config.wakeFd, this.#drain, 8); // reset the eventfd's counter
        continue;
      }
      this.#onEvent(data, events.events(i));
    }
    const pending = this.#pendingCount;
    if (pending > 0) {
      // Only the slots queued before this pass get a turn; those it queues again are appended
      // (a slot appears at most twice: the list holds 2 * maxPairs) and wait for the next pass.
      const list = this.#pending;
      for (let i = 0; i < pending; i++) {
        const slot = list[i];
        if (this.#inPending[slot] === 0) continue;
        this.#inPending[slot] = 0;
        if (this.#live[slot]) this.#pumpPair(slot);
      }
      const requeued = this.#pendingCount - pending;
      list.copyWithin(0, pending, pending + requeued);
      this.#pendingCount = requeued;
    }
    if (this.#idlePairs > 0 && this.now >= this.#nextIdleCheck) this.#checkIdle();
  }

  /** Closes the pooled pipes and the epoll set. Call once no pair is live. */
  close(): void {
    this.cancelAll();
    this.#pipes.close();
    if (this.#config.wakeFd >= 0) this.#libc.epoll_ctl(this.ep, EPOLL_CTL_DEL, this.#config.wakeFd, 0, 0);
    this.#libc.close(this.ep);
  }

  #onEvent(data: number, mask: number): void {
    const slot = data >>> 1;
    if (slot >= this.#config.maxPairs || !this.#live[slot]) return; // stale: the pair ended in this batch
    let ready = this.#ready[data];
    if (mask & READ_EVENTS) ready |= R_READABLE;
    if (mask & WRITE_EVENTS) ready |= R_WRITABLE;
    this.#ready[data] = ready;
    if (mask & EPOLLERR) {
      // A reset with nothing left to read or write would otherwise go unnoticed until the next byte.
      const error = this.#libc.getIntOption(this.#sock[data], SOL_SOCKET, SO_ERROR);
      if (error > 0) return this.#finish(slot, END_ERROR, error, data & 1);
    }
    this.#pumpPair(slot);
  }

  /** Pumps both directions; ends the pair on failure or when both are done; queues it when a bound was hit. */
  #pumpPair(slot: number): void {
    const a = this.#pump(slot, 0);
    if (a < 0) return this.#finish(slot, END_ERROR, this.#errno, this.#where);
    const b = this.#pump(slot, 1);
    if (b < 0) return this.#finish(slot, END_ERROR, this.#errno, this.#where);
    const s = slot * 2;
    if ((this.#flags[s] & F_SHUT) && (this.#flags[s + 1] & F_SHUT)) return this.#finish(slot, END_EOF, 0, 0);
    if (a > 0 || b > 0) this.#markPending(slot);
  }

  /**
   * Moves bytes in one direction until nothing moves or {@linkcode ROUNDS} rounds pass.
   * @returns 0 when done for now, 1 when the bound cut it short, -1 on failure (`#errno`, `#where` set).
   */
  #pump(slot: number, dir: number): number {
    const libc = this.#libc;
    const d = slot * 2 + dir;
    const srcIndex = d, dstIndex = d ^ 1;
    const src = this.#sock[srcIndex], dst = this.#sock[dstIndex];
    const counter = slot * 3 + dir;
    for (let round = 0; round < ROUNDS; round++) {
      let progress = false;
      let queued = this.#inPipe[d];
      if (queued > 0 && (this.#ready[dstIndex] & R_WRITABLE)) {
        const n = libc.splice(this.#pipeR[d], dst, queued, SPLICE_FLAGS);
        if (n > 0) {
          queued -= n;
          this.#inPipe[d] = queued;
          this.counters[counter] += n;
          this.#lastActive[slot] = this.now;
          this.#flags[d] &= ~F_BLOCKED;
          progress = true;
        } else if (n < 0) {
          const errno = libc.errno();
          if (errno !== EAGAIN && errno !== EINTR) return this.#failed(errno, dstIndex & 1 | WHERE_WRITE);
          if (errno === EAGAIN) this.#ready[dstIndex] &= ~R_WRITABLE;
          if (queued >= this.#pipeCap[d] && !(this.#flags[d] & F_BLOCKED)) {
            this.#flags[d] |= F_BLOCKED; // the source stays unread until the destination drains
            this.counters[slot * 3 + 2]++;
          }
        }
      }
      const flags = this.#flags[d];
      if (!(flags & F_EOF) && (this.#ready[srcIndex] & R_READABLE) && (queued === 0 || queued < this.#pipeCap[d])) {
        if (this.#pipeR[d] < 0 && !this.#takePipe(d)) return this.#failed(libc.errno(), srcIndex & 1);
        const n = libc.splice(src, this.#pipeW[d], this.#pipeCap[d] - queued, SPLICE_FLAGS);
        if (n > 0) {
          queued += n;
          this.#inPipe[d] = queued;
          this.#lastActive[slot] = this.now;
          progress = true;
        } else if (n === 0) {
          // A reset whose error someone else consumed (Bun reads a paused socket's error when it
          // closes it) also reads as end of stream. Tell them apart by the state: an orderly close
          // reaches TCP_CLOSE only after our own FIN, so TCP_CLOSE before we shut it means a reset.
          if (
            !this.#config.ownsSockets && !(this.#flags[d ^ 1] & F_SHUT) &&
            (libc.getIntOption(src, IPPROTO_TCP, TCP_INFO) & 0xff) === TCP_CLOSE
          ) {
            return this.#failed(ECONNRESET, srcIndex & 1);
          }
          this.#flags[d] |= F_EOF;
          progress = true;
        } else {
          const errno = libc.errno();
          if (errno !== EAGAIN && errno !== EINTR) return this.#failed(errno, srcIndex & 1);
          // With bytes in the pipe, EAGAIN may mean "pipe full" rather than "socket empty": keep trying.
          if (errno === EAGAIN && queued === 0) this.#ready[srcIndex] &= ~R_READABLE;
        }
      }
      if ((this.#flags[d] & (F_EOF | F_SHUT)) === F_EOF && queued === 0) {
        // Half-close: the other direction keeps flowing. ENOTCONN: the destination is gone already.
        // The last direction of an owned pair needs none: the pair ends now, and its close sends the FIN.
        const last = this.#config.ownsSockets && (this.#flags[d ^ 1] & F_SHUT) !== 0;
        if (!last && libc.shutdown(dst, SHUT_WR) !== 0) {
          const errno = libc.errno();
          if (errno !== ENOTCONN) return this.#failed(errno, dstIndex & 1 | WHERE_WRITE);
        }
        this.#flags[d] |= F_SHUT;
      }
      if (!progress) {
        if (queued === 0 && this.#pipeR[d] >= 0) this.#releasePipe(d); // idle directions hold no pipe
        return 0;
      }
    }
    return 1; // keeps its pipe: the pair gets another turn soon
  }

  #failed(errno: number, where: number): number {
    this.#errno = errno;
    this.#where = where;
    return -1;
  }

  #markPending(slot: number): void {
    if (this.#inPending[slot]) return;
    this.#inPending[slot] = 1;
    this.#pending[this.#pendingCount++] = slot;
  }

  #checkIdle(): void {
    const now = this.now;
    for (let i = this.#liveCount - 1; i >= 0; i--) {
      const slot = this.#liveList[i];
      const idleMs = this.#idleMs[slot];
      if (idleMs > 0 && now - this.#lastActive[slot] >= idleMs) this.#finish(slot, END_IDLE, 0, 0);
    }
    if (this.#idlePairs === 0) {
      this.#idleCheckMs = MAX_WAIT_MS;
      this.#nextIdleCheck = Infinity;
    } else this.#nextIdleCheck = now + this.#idleCheckMs;
  }

  /** Deregisters and closes the pair's sockets, frees its pipes, and reports. */
  #finish(slot: number, end: number, errno: number, where: number): void {
    const libc = this.#libc;
    const s = slot * 2;
    for (let i = s; i < s + 2; i++) {
      const fd = this.#sock[i];
      if (fd >= 0) {
        // Before close: the runtime's fd keeps the socket (and its registration) alive.
        if (!this.#config.ownsSockets) libc.epoll_ctl(this.ep, EPOLL_CTL_DEL, fd, 0, 0);
        libc.close(fd);
      }
      this.#sock[i] = -1;
      this.#ready[i] = 0;
      if (this.#pipeR[i] >= 0) this.#releasePipe(i);
      this.#flags[i] = 0;
    }
    this.#live[slot] = 0;
    this.#inPending[slot] = 0;
    if (this.#idleMs[slot] > 0) this.#idlePairs--;
    this.#idleMs[slot] = 0;
    const pos = this.#livePos[slot];
    const last = this.#liveList[--this.#liveCount];
    this.#liveList[pos] = last;
    this.#livePos[last] = pos;
    this.#livePos[slot] = -1;
    this.#done(slot, end, errno, where);
  }

  /** Gives direction `d` a pipe. False (errno set) when none can be made. */
  #takePipe(d: number): boolean {
    const pool = this.#pipes;
    if (!pool.take(this.now)) return false;
    this.#pipeR[d] = pool.r;
    this.#pipeW[d] = pool.w;
    this.#pipeCap[d] = pool.size;
    return true;
  }

  /** Gives direction `d`'s pipe back (closed rather than pooled if bytes are left in it). */
  #releasePipe(d: number): void {
    this.#pipes.release(this.#pipeR[d], this.#pipeW[d], this.#pipeCap[d], this.#inPipe[d] === 0);
    this.#pipeR[d] = -1;
    this.#pipeW[d] = -1;
    this.#pipeCap[d] = 0;
    this.#inPipe[d] = 0;
  }
}
