import assert from "node:assert/strict";
import { AF_INET, AF_INET6 } from "../../ffi/libc.ts";
import { findListenerFd, findSocketFd } from "../../ffi/socket_fd.ts";
import { SOCKET_FD } from "../../protocols/_native_io.ts";
import type { NetAddr } from "../../protocols/types.ts";
import { waitFor } from "../_util/wait.ts";
import { test } from "../_util/test.ts";
import { libcOrFail, tcpPair } from "./_util.ts";

const libc = await libcOrFail();

/** The addresses alone: no SOCKET_FD, so the lookup has to scan (on Bun too). */
function addressesOf(conn: { localAddr: NetAddr; remoteAddr: NetAddr }) {
  return { localAddr: conn.localAddr, remoteAddr: conn.remoteAddr };
}

test("findSocketFd() finds the fd of each end of a loopback connection", async () => {
  await using pair = await tcpPair();
  const clientFd = findSocketFd(pair.client, libc);
  const serverFd = findSocketFd(pair.server, libc);
  assert.ok(clientFd !== undefined && serverFd !== undefined);
  assert.notEqual(clientFd, serverFd);
  const port = pair.listener.addr.port;
  assert.deepEqual(libc.getpeername(clientFd), { family: AF_INET, address: "127.0.0.1", port, scopeId: 0 });
  assert.equal(libc.getsockname(serverFd)?.port, port);
  assert.equal(libc.getpeername(serverFd)?.port, pair.client.localAddr.port);
  // The /proc scan finds the same sockets (on Bun, where SOCKET_FD answered above).
  assert.equal(findSocketFd(addressesOf(pair.client), libc), clientFd);
  assert.equal(findSocketFd(addressesOf(pair.server), libc), serverFd);
});

test("findSocketFd() uses SOCKET_FD when the runtime reveals it (Bun)", async () => {
  await using pair = await tcpPair();
  const revealed = (pair.client as { [SOCKET_FD]?: number })[SOCKET_FD];
  if ("Bun" in globalThis) {
    assert.equal(typeof revealed, "number");
    assert.equal(findSocketFd(pair.client, libc), revealed);
  } else {
    assert.equal(revealed, undefined, "Deno 2 has no fd for a conn");
  }
});

test("findSocketFd() checks a revealed fd and scans when it is wrong", async () => {
  await using pair = await tcpPair();
  const right = findSocketFd(addressesOf(pair.client), libc);
  const lying = { ...addressesOf(pair.client), [SOCKET_FD]: 0 }; // stdin is no socket
  assert.equal(findSocketFd(lying, libc), right);
});

test("findSocketFd() matches IPv4-mapped addresses on a dual-stack listener", async () => {
  await using pair = await tcpPair({ port: 0 }, "127.0.0.1"); // listens on "::"
  const serverFd = findSocketFd(pair.server, libc);
  assert.ok(serverFd !== undefined);
  assert.equal(pair.server.localAddr.hostname, "127.0.0.1", "the conn shows the plain IPv4 form");
  assert.deepEqual(libc.getsockname(serverFd), {
    family: AF_INET6,
    address: "::ffff:127.0.0.1",
    port: pair.listener.addr.port,
    scopeId: 0,
  });
  assert.equal(libc.getpeername(serverFd)?.port, pair.client.localAddr.port);
  const clientFd = findSocketFd(pair.client, libc);
  assert.equal(libc.getsockname(clientFd!)?.family, AF_INET, "the client socket is plain IPv4");
  assert.equal(findSocketFd(addressesOf(pair.server), libc), serverFd);
});

test("findSocketFd() finds IPv6 loopback connections", async () => {
  await using pair = await tcpPair({ hostname: "::1", port: 0 }, "::1");
  const clientFd = findSocketFd(addressesOf(pair.client), libc);
  assert.deepEqual(libc.getpeername(clientFd!), {
    family: AF_INET6,
    address: "::1",
    port: pair.listener.addr.port,
    scopeId: 0,
  });
  assert.equal(libc.getpeername(findSocketFd(pair.server, libc)!)?.port, pair.client.localAddr.port);
});

test("findSocketFd() matches by port alone for host names, and only when unique", async () => {
  await using pair = await tcpPair();
  const named = (addr: NetAddr): NetAddr => ({ ...addr, hostname: "localhost" });
  const fd = findSocketFd({ localAddr: named(pair.client.localAddr), remoteAddr: named(pair.client.remoteAddr) }, libc);
  assert.equal(fd, findSocketFd(pair.client, libc));
});

test("findSocketFd() returns undefined for a closed conn, a non-TCP address or an unknown one", async () => {
  const pair = await tcpPair();
  const ends = addressesOf(pair.client);
  assert.ok(findSocketFd(ends, libc) !== undefined);
  pair.client.close();
  await waitFor(() => findSocketFd(ends, libc) === undefined, "the closed socket to disappear", 5_000);
  await pair[Symbol.asyncDispose]();
  const udp: NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 1 };
  assert.equal(findSocketFd({ localAddr: udp, remoteAddr: udp }, libc), undefined);
  const nowhere: NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 };
  assert.equal(findSocketFd({ localAddr: nowhere, remoteAddr: nowhere }, libc), undefined);
});

test("findListenerFd() finds a listener, dual-stack or IPv4", async () => {
  await using dual = await tcpPair({ port: 0 });
  const dualFd = findListenerFd(dual.listener, libc);
  assert.deepEqual(libc.getsockname(dualFd!), {
    family: AF_INET6,
    address: "::",
    port: dual.listener.addr.port,
    scopeId: 0,
  });
  assert.equal(libc.getpeername(dualFd!), undefined, "a listener has no peer");
  await using v4 = await tcpPair();
  const v4Fd = findListenerFd(v4.listener, libc);
  assert.equal(libc.getsockname(v4Fd!)?.port, v4.listener.addr.port);
  assert.notEqual(v4Fd, findSocketFd(v4.server, libc), "the accepted socket shares the port but is not listening");
});
