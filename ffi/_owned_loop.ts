/**
 * Internal: the owned-sockets forwarder's loop, runtime-neutral and synchronous (its Worker drives
 * it). It owns every socket through libc: `accept4` on the listening socket until `EAGAIN`, a
 * nonblocking `connect` to the target per client, completed on `EPOLLOUT` (`SO_ERROR` read when
 * `EPOLLERR`/`EPOLLHUP` come with it), then the pair goes to a {@linkcode SpliceCore} in
 * owned mode, which splices both directions through pooled pipes until both ends are shut.
 *
 * One epoll set (the core's) holds the listening socket (data {@linkcode LISTEN_DATA}), the wake
 * eventfd and every pair's two sockets, registered once at accept with the core's own events and
 * data (`slot * 2` client, `slot * 2 + 1` target): while a slot connects the core ignores its
 * events and this loop looks at the target's, so no `epoll_ctl` is spent on the hand-over.
 * Per connection that is `accept4`, `socket`, `setsockopt` per option of the target, `connect`, two
 * `epoll_ctl`, the splices, `shutdown`s and two `close`s.
 * @module
 */
import {
  EAGAIN,
  ECONNABORTED,
  EINPROGRESS,
  EINTR,
  EPOLL_CTL_ADD,
  EPOLLERR,
  EPOLLET,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  ETIMEDOUT,
  type Libc,
  SO_ERROR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./libc.ts";
import { applySocketOptions } from "./socket_options.ts";
import { MAX_WAIT_MS, SOCKET_EVENTS, SpliceCore } from "./_splice_core.ts";
import { END_ERROR, END_IDLE } from "./_splice_shared.ts";
import { SOCKADDR_MAX } from "./_owned_sockaddr.ts";
import {
  CMD_CLOSE,
  CMD_DRAIN,
  COUNTER_STRIDE,
  CTL_COMMAND,
  CTL_SLOTS_USED,
  CTL_STATS_SEQ,
  CTL_TARGET_LENGTH,
  CTL_TARGET_SEQ,
  type OwnedShared,
  readConsistent,
  ST_ACCEPT_ERRORS,
  ST_ACCEPTED,
  ST_ACTIVE,
  ST_BYTES_DOWN,
  ST_BYTES_UP,
  ST_CONNECT_ERRORS,
  ST_CONNECTING,
  ST_ERRORS,
  ST_IDLE_TIMEOUTS,
  ST_LAST_CONNECT_ERRNO,
  ST_LISTENING,
  ST_PIPES_IN_USE,
  ST_REFUSED,
} from "./_owned_shared.ts";

/** epoll `data` of the listening socket (the core's wake fd uses 0xffffffff). */
export const LISTEN_DATA = 0xfffffffe;
/** Accepts per turn before the pairs get theirs (the rest are taken on the next turn). */
const MAX_ACCEPTS = 128;
/** Pause after an `accept4` failure such as `EMFILE`, before trying again. */
const ACCEPT_BACKOFF_MS = 50;
/** Longest wait while a connect is pending, so its timeout is checked on time. */
const CONNECT_CHECK_MS = 100;

const FREE = 0, CONNECTING = 1, LIVE = 2;

/** The loop: accept, connect, hand pairs to the core. Driven by exactly one thread. */
export class OwnedLoop {
  /** The splice machinery (its epoll set is the loop's). */
  readonly core: SpliceCore;
  /** True once the listening socket was closed (draining or closed). */
  draining = false;
  /** True once every connection was closed on `CMD_CLOSE`. */
  closed = false;

  #libc: Libc;
  #shared: OwnedShared;
  #control: Int32Array;
  #stats: Float64Array;
  #counters: Float64Array;
  #targetShared: Uint8Array;
  #target = new Uint8Array(SOCKADDR_MAX);
  #targetLength = 0;
  #targetFamily = 0;
  #targetSeq = -1;
  #state: Uint8Array;
  #client: Int32Array;
  #server: Int32Array;
  #deadline: Float64Array;
  #free: Int32Array;
  #freeCount: number;
  #slotsUsed = 0;
  #connecting = 0;
  #acceptPending = false;
  #acceptAfter = 0;
  #nextConnectCheck = Infinity;

  /**
   * Sets up the core and registers the listening socket.
   * @throws {Error} If the epoll set cannot be made or the listening socket cannot be watched.
   */
  constructor(libc: Libc, shared: OwnedShared) {
    this.#libc = libc;
    this.#shared = shared;
    this.#control = new Int32Array(shared.control);
    this.#stats = new Float64Array(shared.stats);
    this.#counters = new Float64Array(shared.counters);
    this.#targetShared = new Uint8Array(shared.target);
    const max = shared.maxConnections;
    this.#state = new Uint8Array(max);
    this.#client = new Int32Array(max).fill(-1);
    this.#server = new Int32Array(max).fill(-1);
    this.#deadline = new Float64Array(max);
    this.#free = new Int32Array(max);
    for (let i = 0; i < max; i++) this.#free[i] = max - 1 - i; // slot 0 first: counters stay dense
    this.#freeCount = max;
    this.core = new SpliceCore(
      libc,
      {
        maxPairs: max,
        pipeSize: shared.pipeSize,
        maxPooledPipes: shared.maxPooledPipes,
        wakeFd: shared.wakeFd,
        ownsSockets: true,
      },
      this.#counters,
      (slot, end) => this.#onDone(slot, end),
    );
    if (libc.epoll_ctl(this.core.ep, EPOLL_CTL_ADD, shared.listenFd, (EPOLLIN | EPOLLET) >>> 0, LISTEN_DATA) !== 0) {
      const errno = libc.errno();
      this.core.close();
      throw new Error(`Cannot watch the listening socket: ${libc.strerror(errno)}`);
    }
    this.#publish();
  }

  /** Connections being connected or forwarded. */
  get active(): number {
    return this.#connecting + this.core.liveCount;
  }

  /** Milliseconds the next `epoll_wait` may block. */
  timeoutMs(now: number): number {
    let wait = this.core.timeoutMs();
    if (this.#acceptPending) wait = Math.min(wait, Math.max(0, Math.ceil(this.#acceptAfter - now)));
    if (this.#connecting > 0) wait = Math.min(wait, Math.max(0, Math.ceil(this.#nextConnectCheck - now)));
    return wait < MAX_WAIT_MS ? wait : MAX_WAIT_MS;
  }

  /** Carries out the main thread's command, if any. */
  takeCommand(): void {
    const command = Atomics.load(this.#control, CTL_COMMAND);
    if (command === CMD_DRAIN || command === CMD_CLOSE) this.#stopListening();
    if (command === CMD_CLOSE && !this.closed) {
      this.closed = true;
      for (let slot = 0; slot < this.#slotsUsed; slot++) {
        if (this.#state[slot] === CONNECTING) this.#connectFailed(slot, 0);
      }
      this.core.close(); // ends the live pairs (not errors), closes the pipes and the epoll set
      this.#publish();
    }
  }

  /** Handles the `n` events `epoll_wait` returned into `core.events`, taken at time `now`. */
  step(n: number, now: number): void {
    const core = this.core, events = core.events, state = this.#state;
    const max2 = this.#shared.maxConnections * 2;
    core.now = now;
    for (let i = 0; i < n; i++) {
      const data = events.data(i);
      if (data === LISTEN_DATA) this.#acceptPending = true;
      else if (data < max2 && (data & 1) === 1 && state[data >>> 1] === CONNECTING) {
        this.#onConnect(data >>> 1, events.events(i));
      }
    }
    if (this.#acceptPending && !this.draining && now >= this.#acceptAfter) this.#accept(now);
    core.step(n); // the pairs (events of connecting slots are ignored there)
    if (this.#connecting > 0 && now >= this.#nextConnectCheck) this.#checkConnects(now);
    this.#publish();
  }

  #stopListening(): void {
    if (this.draining) return;
    this.draining = true;
    this.#acceptPending = false;
    this.#libc.close(this.#shared.listenFd); // leaves the epoll set; the kernel refuses new clients
    this.#publish();
  }

  /** Accepts until `EAGAIN` or {@linkcode MAX_ACCEPTS}. */
  #accept(now: number): void {
    const libc = this.#libc, stats = this.#stats;
    const listenFd = this.#shared.listenFd;
    this.#readTarget();
    for (let i = 0; i < MAX_ACCEPTS; i++) {
      const client = libc.accept4(listenFd, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) {
        const errno = libc.errno();
        if (errno === EAGAIN) {
          this.#acceptPending = false;
          return;
        }
        if (errno === EINTR || errno === ECONNABORTED) continue;
        stats[ST_ACCEPT_ERRORS]++; // EMFILE, ENFILE, ENOBUFS, ENOMEM: the queue stays; try again later
        this.#acceptAfter = now + ACCEPT_BACKOFF_MS;
        return;
      }
      stats[ST_ACCEPTED]++;
      if (this.#freeCount === 0 || this.#targetLength === 0) {
        libc.close(client);
        stats[ST_REFUSED]++;
        continue;
      }
      this.#connect(client, now);
    }
  }

  /** Opens the target connection for `client` (which it owns from now on). */
  #connect(client: number, now: number): void {
    const libc = this.#libc;
    const slot = this.#free[--this.#freeCount];
    if (slot >= this.#slotsUsed) {
      this.#slotsUsed = slot + 1;
      Atomics.store(this.#control, CTL_SLOTS_USED, this.#slotsUsed);
    }
    this.#client[slot] = client;
    this.#connecting++;
    this.#state[slot] = CONNECTING;
    const server = libc.socket(this.#targetFamily, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (server < 0) return this.#connectFailed(slot, libc.errno());
    this.#server[slot] = server;
    try {
      applySocketOptions(server, this.#shared.connectOptions, libc);
    } catch {
      return this.#connectFailed(slot, libc.errno());
    }
    const connected = libc.connect(server, this.#target, this.#targetLength) === 0;
    if (!connected && libc.errno() !== EINPROGRESS) return this.#connectFailed(slot, libc.errno());
    const s = slot * 2;
    if (
      libc.epoll_ctl(this.core.ep, EPOLL_CTL_ADD, client, SOCKET_EVENTS, s) !== 0 ||
      libc.epoll_ctl(this.core.ep, EPOLL_CTL_ADD, server, SOCKET_EVENTS, s + 1) !== 0
    ) {
      return this.#connectFailed(slot, libc.errno());
    }
    if (connected) return this.#hand(slot);
    this.#deadline[slot] = now + this.#shared.connectTimeoutMs;
    if (this.#nextConnectCheck === Infinity) this.#nextConnectCheck = now + CONNECT_CHECK_MS;
  }

  #onConnect(slot: number, mask: number): void {
    if (mask & (EPOLLERR | EPOLLHUP)) {
      const error = this.#libc.getIntOption(this.#server[slot], SOL_SOCKET, SO_ERROR);
      if (error !== 0) return this.#connectFailed(slot, error > 0 ? error : this.#libc.errno());
    }
    if (mask & EPOLLOUT) this.#hand(slot);
  }

  /** The target is connected: the pair goes to the core. */
  #hand(slot: number): void {
    this.#connecting--;
    this.#state[slot] = LIVE;
    const c = slot * COUNTER_STRIDE;
    this.#counters[c] = this.#counters[c + 1] = this.#counters[c + 2] = 0;
    this.core.add(slot, this.#client[slot], this.#server[slot], this.#shared.idleTimeoutMs, true);
  }

  /** The target could not be reached: both sockets closed (the client sees the connection end), counted. */
  #connectFailed(slot: number, errno: number): void {
    const libc = this.#libc;
    if (!this.closed) { // counted before the client can see its connection end
      this.#stats[ST_ERRORS]++;
      this.#stats[ST_CONNECT_ERRORS]++;
      this.#stats[ST_LAST_CONNECT_ERRNO] = errno;
    }
    if (this.#server[slot] >= 0) libc.close(this.#server[slot]);
    if (this.#client[slot] >= 0) libc.close(this.#client[slot]);
    this.#server[slot] = this.#client[slot] = -1;
    this.#connecting--;
    this.#release(slot);
  }

  #checkConnects(now: number): void {
    for (let slot = 0; slot < this.#slotsUsed; slot++) {
      if (this.#state[slot] === CONNECTING && now >= this.#deadline[slot]) this.#connectFailed(slot, ETIMEDOUT);
    }
    this.#nextConnectCheck = this.#connecting > 0 ? now + CONNECT_CHECK_MS : Infinity;
  }

  /** A pair ended in the core (its sockets are closed): its bytes join the totals. */
  #onDone(slot: number, end: number): void {
    const stats = this.#stats, counters = this.#counters, control = this.#control;
    const c = slot * COUNTER_STRIDE;
    Atomics.add(control, CTL_STATS_SEQ, 1); // odd: totals and counters are moving
    stats[ST_BYTES_UP] += counters[c];
    stats[ST_BYTES_DOWN] += counters[c + 1];
    counters[c] = counters[c + 1] = counters[c + 2] = 0;
    Atomics.add(control, CTL_STATS_SEQ, 1);
    if (end === END_ERROR && !this.closed) stats[ST_ERRORS]++;
    else if (end === END_IDLE) stats[ST_IDLE_TIMEOUTS]++;
    this.#client[slot] = this.#server[slot] = -1;
    this.#release(slot);
  }

  #release(slot: number): void {
    this.#state[slot] = FREE;
    this.#free[this.#freeCount++] = slot;
  }

  /** Takes a new target address from the main thread, if it wrote one. */
  #readTarget(): void {
    const control = this.#control;
    const seq = Atomics.load(control, CTL_TARGET_SEQ);
    if (seq === this.#targetSeq || (seq & 1)) return;
    const length = readConsistent(control, CTL_TARGET_SEQ, () => {
      this.#target.set(this.#targetShared);
      return Atomics.load(control, CTL_TARGET_LENGTH);
    });
    this.#targetSeq = seq;
    this.#targetLength = length;
    this.#targetFamily = this.#target[0] | (this.#target[1] << 8); // sa_family, little-endian hosts
  }

  #publish(): void {
    const stats = this.#stats;
    stats[ST_ACTIVE] = this.active;
    stats[ST_CONNECTING] = this.#connecting;
    stats[ST_PIPES_IN_USE] = this.core.pipesInUse;
    stats[ST_LISTENING] = this.draining ? 0 : 1;
  }
}
