import assert from "node:assert/strict";
import { AF_INET, IPPROTO_TCP, O_CLOEXEC, SOCK_CLOEXEC, SOCK_STREAM, TCP_NOTSENT_LOWAT } from "../../ffi/libc.ts";
import { findListenerFd, findSocketFd } from "../../ffi/socket_fd.ts";
import {
  applySocketOptions,
  DEFAULT_FAST_OPEN_QUEUE_LENGTH,
  optimizeTcpConn,
  readSocketOptions,
  SocketOptionError,
  type TcpSocketOptions,
} from "../../ffi/socket_options.ts";
import { test } from "../_util/test.ts";
import { libcOrFail, sysctl, tcpPair } from "./_util.ts";

const libc = await libcOrFail();
const NEVER_OPEN_FD = 1_000_000;

/** Asserts that `fn` throws a SocketOptionError with exactly this message and errno name. */
function assertOptionError(fn: () => unknown, message: string, code: string): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof SocketOptionError, String(error));
    assert.equal(error.message, message);
    assert.equal(error.code, code);
    assert.equal(error.name, "SocketOptionError");
    return true;
  });
}

test("applySocketOptions() sets each option on both ends and readSocketOptions() reads it back", async () => {
  await using pair = await tcpPair();
  for (const conn of [pair.client, pair.server]) {
    const fd = findSocketFd(conn, libc)!;
    const before = readSocketOptions(fd, libc);
    assert.equal(before.listening, false);
    assert.equal(before.noDelay, true, "TcpProtocol sets TCP_NODELAY by default");

    const first: TcpSocketOptions = {
      reusePort: true,
      sendBufferSize: 65536,
      recvBufferSize: 65536,
      noDelay: false,
      quickAck: false,
      keepAlive: true,
      keepAliveIdleSeconds: 45,
      keepAliveIntervalSeconds: 7,
      keepAliveCount: 4,
      notSentLowat: 16384,
    };
    applySocketOptions(fd, first, libc);
    assert.deepEqual(readSocketOptions(fd, libc), {
      listening: false,
      reusePort: true,
      sendBufferSize: 131072, // the kernel stores and reports twice the value set
      recvBufferSize: 131072,
      noDelay: false,
      quickAck: false,
      keepAlive: true,
      keepAliveIdleSeconds: 45,
      keepAliveIntervalSeconds: 7,
      keepAliveCount: 4,
      notSentLowat: 16384,
      fastOpen: 0,
    });

    applySocketOptions(
      fd,
      { reusePort: false, noDelay: true, quickAck: true, keepAlive: false, notSentLowat: 0 },
      libc,
    );
    const after = readSocketOptions(fd, libc);
    assert.equal(after.reusePort, false);
    assert.equal(after.noDelay, true);
    assert.equal(after.quickAck, true);
    assert.equal(after.keepAlive, false);
    assert.equal(after.notSentLowat, 0);
    assert.equal(after.keepAliveIdleSeconds, 45, "untouched options keep their values");
  }
});

test("sendBufferSize and recvBufferSize are capped at twice wmem_max / rmem_max", async () => {
  await using pair = await tcpPair();
  const fd = findSocketFd(pair.client, libc)!;
  applySocketOptions(fd, { sendBufferSize: 1 << 30, recvBufferSize: 1 << 30 }, libc);
  const values = readSocketOptions(fd, libc);
  assert.equal(values.sendBufferSize, 2 * sysctl("net/core/wmem_max"));
  assert.equal(values.recvBufferSize, 2 * sysctl("net/core/rmem_max"));
});

test("fastOpen sets the TCP_FASTOPEN queue on a listener", async () => {
  await using pair = await tcpPair();
  const fd = findListenerFd(pair.listener, libc)!;
  assert.equal(readSocketOptions(fd, libc).listening, true);
  applySocketOptions(fd, { fastOpen: 5 }, libc);
  assert.equal(readSocketOptions(fd, libc).fastOpen, 5);
  applySocketOptions(fd, { fastOpen: true }, libc);
  assert.equal(readSocketOptions(fd, libc).fastOpen, DEFAULT_FAST_OPEN_QUEUE_LENGTH);
  applySocketOptions(fd, { fastOpen: false }, libc);
  assert.equal(readSocketOptions(fd, libc).fastOpen, 0);
});

test("fastOpen sets TCP_FASTOPEN_CONNECT before connect, and a connected socket refuses it", async () => {
  const clientEnabled = (sysctl("net/ipv4/tcp_fastopen") & 1) === 1;
  const s = libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  try {
    if (clientEnabled) {
      applySocketOptions(s, { fastOpen: true }, libc);
      assert.equal(readSocketOptions(s, libc).fastOpen, 1);
      applySocketOptions(s, { fastOpen: false }, libc);
      assert.equal(readSocketOptions(s, libc).fastOpen, 0);
    }
  } finally {
    libc.close(s);
  }
  await using pair = await tcpPair();
  const fd = findSocketFd(pair.client, libc)!;
  assertOptionError(
    () => applySocketOptions(fd, { fastOpen: true }, libc),
    `Cannot set TCP_FASTOPEN_CONNECT=1 on fd ${fd}: ${clientEnabled ? "Invalid argument" : "Operation not supported"}`,
    clientEnabled ? "EINVAL" : "EOPNOTSUPP",
  );
});

test("values the kernel refuses give a SocketOptionError naming the option, value, fd and errno", async () => {
  await using pair = await tcpPair();
  const fd = findSocketFd(pair.client, libc)!;
  assertOptionError(
    () => applySocketOptions(fd, { keepAliveCount: 1000 }, libc),
    `Cannot set TCP_KEEPCNT=1000 on fd ${fd}: Invalid argument`,
    "EINVAL",
  );
  assertOptionError(
    () => applySocketOptions(fd, { keepAliveIdleSeconds: 0 }, libc),
    `Cannot set TCP_KEEPIDLE=0 on fd ${fd}: Invalid argument`,
    "EINVAL",
  );
  assertOptionError(
    () => applySocketOptions(fd, { keepAliveIntervalSeconds: 40_000 }, libc),
    `Cannot set TCP_KEEPINTVL=40000 on fd ${fd}: Invalid argument`,
    "EINVAL",
  );
  let error: SocketOptionError | undefined;
  try {
    applySocketOptions(fd, { keepAliveCount: 128 }, libc);
  } catch (e) {
    error = e as SocketOptionError;
  }
  assert.ok(error);
  assert.deepEqual(
    { op: error.op, option: error.option, value: error.value, fd: error.fd, errno: error.errno },
    { op: "set", option: "TCP_KEEPCNT", value: 128, fd, errno: 22 },
  );
});

test("options on a non-socket or a closed fd give a SocketOptionError", () => {
  const fds = new Int32Array(2);
  libc.pipe2(fds, O_CLOEXEC);
  try {
    assertOptionError(
      () => applySocketOptions(fds[1], { notSentLowat: 16384 }, libc),
      `Cannot set TCP_NOTSENT_LOWAT=16384 on fd ${fds[1]}: Socket operation on non-socket`,
      "ENOTSOCK",
    );
  } finally {
    libc.close(fds[0]);
    libc.close(fds[1]);
  }
  assertOptionError(
    () => readSocketOptions(NEVER_OPEN_FD, libc),
    `Cannot get SO_ACCEPTCONN on fd ${NEVER_OPEN_FD}: Bad file descriptor`,
    "EBADF",
  );
});

test("bad values are rejected before any option is set", async () => {
  await using pair = await tcpPair();
  const fd = findSocketFd(pair.client, libc)!;
  assert.throws(() => applySocketOptions(fd, { noDelay: false, sendBufferSize: -1 }, libc), {
    name: "RangeError",
    message: "Cannot apply socket option 'sendBufferSize' as it must be an integer from 0 to 2147483647: " +
      "current value is -1",
  });
  assert.equal(readSocketOptions(fd, libc).noDelay, true, "noDelay was not applied");
  assert.throws(() => applySocketOptions(fd, { keepAliveCount: 1.5 }, libc), {
    name: "RangeError",
    message: "Cannot apply socket option 'keepAliveCount' as it must be an integer from 0 to 2147483647: " +
      "current value is 1.5",
  });
  assert.throws(() => applySocketOptions(fd, { fastOpen: 2 ** 31 }, libc), { name: "RangeError" });
  assert.throws(() => applySocketOptions(fd, { noDelay: "yes" as unknown as boolean }, libc), {
    name: "TypeError",
    message: `Cannot apply socket option 'noDelay' as it must be a boolean: current value is "yes"`,
  });
  assert.throws(() => applySocketOptions(-1, {}, libc), {
    name: "RangeError",
    message: "Cannot use fd as it must be a non-negative integer: current value is -1",
  });
});

test("optimizeTcpConn() sets NoDelay and a 30 s keepalive, with overrides on top", async () => {
  await using pair = await tcpPair();
  pair.client.setNoDelay(false);
  pair.client.setKeepAlive(false);
  assert.equal(await optimizeTcpConn(pair.client), true);
  const fd = findSocketFd(pair.client, libc)!;
  const values = readSocketOptions(fd, libc);
  assert.equal(values.noDelay, true);
  assert.equal(values.keepAlive, true);
  assert.equal(values.keepAliveIdleSeconds, 30);
  assert.equal(values.keepAliveIntervalSeconds, 30);

  assert.equal(await optimizeTcpConn(pair.server, { keepAliveIdleSeconds: 60, notSentLowat: 16384 }), true);
  const server = readSocketOptions(findSocketFd(pair.server, libc)!, libc);
  assert.equal(server.keepAliveIdleSeconds, 60);
  assert.equal(server.keepAliveIntervalSeconds, 30);
  assert.equal(server.notSentLowat, 16384);
});

test("optimizeTcpConn() does nothing and resolves false for a conn without a socket", async () => {
  const nowhere = { transport: "tcp" as const, hostname: "127.0.0.1", port: 1 };
  assert.equal(await optimizeTcpConn({ localAddr: nowhere, remoteAddr: nowhere }), false);
});

test("readSocketOptions() reads an unsigned option stored at its maximum", async () => {
  await using pair = await tcpPair();
  const fd = findSocketFd(pair.client, libc)!;
  assert.equal(libc.setIntOption(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, -1), 0, "the kernel stores it as u32");
  assert.equal(libc.getIntOption(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT), -1);
  assert.equal(libc.errno(), 0, "errno is cleared, so this -1 is a value");
  assert.equal(readSocketOptions(fd, libc).notSentLowat, 0xffff_ffff);
});
