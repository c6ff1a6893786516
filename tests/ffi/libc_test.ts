import assert from "node:assert/strict";
import process from "node:process";
import {
  AF_INET,
  EBADF,
  ENOTSOCK,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EpollEvents,
  EPOLLIN,
  F_GETPIPE_SZ,
  F_SETPIPE_SZ,
  O_CLOEXEC,
  O_NONBLOCK,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  SPLICE_F_MOVE,
  SPLICE_F_NONBLOCK,
} from "../../ffi/libc.ts";
import { findSocketFd } from "../../ffi/socket_fd.ts";
import { test } from "../_util/test.ts";
import { libcOrFail, tcpPair } from "./_util.ts";

const libc = await libcOrFail();
/** Far above the fd limit, so never open. */
const NEVER_OPEN_FD = 1_000_000;

/** Runs `fn` with a fresh nonblocking pipe, closed afterwards. */
function withPipe<T>(fn: (readFd: number, writeFd: number) => T): T {
  const fds = new Int32Array(2);
  assert.equal(libc.pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0, libc.strerror(libc.errno()));
  try {
    return fn(fds[0], fds[1]);
  } finally {
    libc.close(fds[0]);
    libc.close(fds[1]);
  }
}

test("loadLibc() binds libc for the running runtime", () => {
  assert.equal(libc.runtime, "Bun" in globalThis ? "bun" : "deno");
  assert.equal(libc.getpid(), process.pid);
  assert.equal(libc.epollEventSize, libc.arch === "x86_64" ? 12 : 16);
  assert.equal(typeof libc.epollWaitAsync, libc.runtime === "deno" ? "function" : "undefined");
});

test("errno() reads the calling thread's errno and strerror() gives glibc's text", () => {
  assert.equal(libc.close(NEVER_OPEN_FD), -1);
  assert.equal(libc.errno(), EBADF);
  assert.equal(libc.strerror(EBADF), "Bad file descriptor");
  assert.equal(libc.strerror(22), "Invalid argument");
  assert.equal(libc.strerror(4242), "Unknown error 4242");
  withPipe((readFd) => {
    assert.equal(libc.getsockname(readFd), undefined);
    assert.equal(libc.errno(), ENOTSOCK);
    assert.equal(libc.getIntOption(readFd, 1, 7), -1);
    assert.equal(libc.errno(), ENOTSOCK);
  });
});

test("splice() moves 8 bytes from one pipe to another", () => {
  withPipe((aRead, aWrite) =>
    withPipe((bRead, bWrite) => {
      const payload = new TextEncoder().encode("8 bytes!");
      assert.equal(libc.write(aWrite, payload), 8);
      assert.equal(libc.splice(aRead, bWrite, 1 << 20, SPLICE_F_MOVE | SPLICE_F_NONBLOCK), 8);
      const got = new Uint8Array(16);
      assert.equal(libc.read(bRead, got), 8);
      assert.equal(new TextDecoder().decode(got.subarray(0, 8)), "8 bytes!");
      assert.equal(libc.splice(aRead, bWrite, 8, SPLICE_F_NONBLOCK), -1, "the source pipe is empty");
      assert.equal(libc.strerror(libc.errno()), "Resource temporarily unavailable");
    })
  );
});

test("read() and write() never go past the buffer they are given", () => {
  withPipe((readFd, writeFd) => {
    assert.equal(libc.write(writeFd, new Uint8Array([1, 2, 3, 4]), 1 << 30), 4);
    const small = new Uint8Array(2);
    assert.equal(libc.read(readFd, small, 1 << 30), 2);
    assert.deepEqual([...small], [1, 2]);
    assert.equal(libc.read(readFd, new Uint8Array(8).subarray(4), 100), 2, "a subarray is read at its offset");
  });
});

test("fcntl(F_SETPIPE_SZ) resizes a pipe and F_GETPIPE_SZ reads it back", () => {
  withPipe((readFd, writeFd) => {
    assert.equal(libc.fcntl(readFd, F_GETPIPE_SZ, 0), 65536, "the kernel default");
    assert.equal(libc.fcntl(writeFd, F_SETPIPE_SZ, 1 << 20), 1 << 20);
    assert.equal(libc.fcntl(readFd, F_GETPIPE_SZ, 0), 1 << 20);
    assert.equal(libc.fcntl(writeFd, F_SETPIPE_SZ, 100_000), 131072, "rounded up to a power-of-two number of pages");
  });
});

test("epoll_wait() reports a pipe once it is readable", () => {
  withPipe((readFd, writeFd) => {
    const ep = libc.epoll_create1(EPOLL_CLOEXEC);
    assert.ok(ep >= 0);
    try {
      assert.equal(libc.epoll_ctl(ep, EPOLL_CTL_ADD, readFd, EPOLLIN, 0xfeed_beef), 0);
      const ready = new EpollEvents(4, libc.epollEventSize);
      assert.equal(libc.epoll_wait(ep, ready.bytes, ready.capacity, 0), 0);
      libc.write(writeFd, new Uint8Array([7]));
      assert.equal(libc.epoll_wait(ep, ready.bytes, 1_000, 1_000), 1, "maxEvents is clamped to the buffer");
      assert.equal(ready.events(0) & EPOLLIN, EPOLLIN);
      assert.equal(ready.data(0), 0xfeed_beef);
    } finally {
      libc.close(ep);
    }
  });
});

test("epollWaitAsync() waits off the JS thread on Deno (undefined on Bun)", async () => {
  const fds = new Int32Array(2);
  libc.pipe2(fds, O_NONBLOCK | O_CLOEXEC);
  const ep = libc.epoll_create1(EPOLL_CLOEXEC);
  try {
    libc.epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], EPOLLIN, fds[0]);
    const ready = new EpollEvents(4, libc.epollEventSize);
    const started = performance.now();
    const waiting = libc.epollWaitAsync!(ep, ready.bytes, ready.capacity, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 20)); // fires on time only if the JS thread is free
    assert.ok(performance.now() - started < 2_000, "the timer fired while epoll_wait was blocked");
    libc.write(fds[1], new Uint8Array([1]));
    assert.equal(await waiting, 1);
    assert.equal(ready.data(0), fds[0]);
  } finally {
    libc.close(ep);
    libc.close(fds[0]);
    libc.close(fds[1]);
  }
}, { ignore: "Bun" in globalThis && "Bun's FFI is synchronous only" });

test("EpollEvents rejects a bad capacity or event size", () => {
  assert.throws(() => new EpollEvents(0, 12), {
    name: "RangeError",
    message: "Cannot create EpollEvents as 'capacity' must be a positive integer: current value is 0",
  });
  assert.throws(() => new EpollEvents(1, 13), {
    name: "RangeError",
    message: "Cannot create EpollEvents as 'eventSize' must be 12 or 16: current value is 13",
  });
});

test("listFds() lists open fds, and a closed one disappears", () => {
  const [r, w] = withPipe((readFd, writeFd) => {
    const open = libc.listFds();
    assert.ok(open.includes(readFd) && open.includes(writeFd));
    assert.deepEqual(open, [...open].sort((a, b) => a - b));
    return [readFd, writeFd];
  });
  const after = libc.listFds();
  assert.ok(!after.includes(r) || !after.includes(w), "at least one of the pair is gone (the other may be reused)");
});

test("socket(), getsockname() and getpeername() on a runtime's loopback connection", async () => {
  const s = libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert.ok(s >= 0);
  assert.deepEqual(libc.getsockname(s), { family: AF_INET, address: "0.0.0.0", port: 0, scopeId: 0 });
  assert.equal(libc.getpeername(s), undefined, "not connected");
  libc.close(s);

  await using pair = await tcpPair();
  const fd = findSocketFd(pair.client, libc)!;
  assert.deepEqual(libc.getpeername(fd), {
    family: AF_INET,
    address: "127.0.0.1",
    port: pair.listener.addr.port,
    scopeId: 0,
  });
});

test("splice() moves socket → pipe → socket on a runtime-owned connection", async () => {
  await using pair = await tcpPair();
  const fd = findSocketFd(pair.server, libc)!;
  const writer = pair.client.writable.getWriter();
  await writer.write(new TextEncoder().encode("hello"));
  const ep = libc.epoll_create1(EPOLL_CLOEXEC);
  const fds = new Int32Array(2);
  libc.pipe2(fds, O_NONBLOCK | O_CLOEXEC);
  try {
    libc.epoll_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN, fd);
    const ready = new EpollEvents(1, libc.epollEventSize);
    let n = 0;
    for (let attempt = 0; attempt < 200 && n !== 1; attempt++) {
      n = libc.epoll_wait(ep, ready.bytes, 1, 0);
      if (n !== 1) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(n, 1, "the server socket became readable");
    assert.equal(libc.splice(fd, fds[1], 65536, SPLICE_F_MOVE | SPLICE_F_NONBLOCK), 5);
    assert.equal(libc.splice(fds[0], fd, 5, SPLICE_F_MOVE | SPLICE_F_NONBLOCK), 5);
  } finally {
    libc.close(ep);
    libc.close(fds[0]);
    libc.close(fds[1]);
  }
  const reader = pair.client.readable.getReader();
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value), "hello");
  reader.releaseLock();
  writer.releaseLock();
});

test("scanFds() stops at the first fd its visitor accepts, and nested scans work", () => {
  withPipe((readFd, writeFd) => {
    const seen: number[] = [];
    const found = libc.scanFds((fd) => {
      seen.push(fd);
      return fd === readFd;
    });
    assert.equal(found, readFd);
    assert.equal(seen.at(-1), readFd, "nothing after the match was visited");
    assert.ok(!seen.includes(writeFd) || writeFd < readFd);
    let inner: number[] = [];
    assert.equal(
      libc.scanFds((fd) => {
        if (fd === writeFd) inner = libc.listFds();
        return false;
      }),
      undefined,
    );
    assert.deepEqual(inner.filter((fd) => fd === readFd || fd === writeFd), [readFd, writeFd].sort((a, b) => a - b));
  });
});
