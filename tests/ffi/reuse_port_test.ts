import assert from "node:assert/strict";
import { findListenerFd } from "../../ffi/socket_fd.ts";
import { readSocketOptions } from "../../ffi/socket_options.ts";
import { NetError } from "../../protocols/errors.ts";
import { TcpProtocol } from "../../protocols/tcp.ts";
import { test } from "../_util/test.ts";
import { libcOrFail } from "./_util.ts";

const libc = await libcOrFail();
const tcp = new TcpProtocol();
const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

test("TcpProtocol.listen() with reusePort sets SO_REUSEPORT and a second listener binds the same port", async () => {
  await using first = await tcp.listen(LOOPBACK, { reusePort: true });
  const fd = findListenerFd(first, libc);
  assert.ok(fd !== undefined, "the listening socket is found");
  const options = readSocketOptions(fd, libc);
  assert.equal(options.listening, true);
  assert.equal(options.reusePort, true);
  // Both bind; the address is then shared (findListenerFd sees two sockets and declines).
  await using second = await tcp.listen({ hostname: "127.0.0.1", port: first.addr.port }, { reusePort: true });
  assert.equal(second.addr.port, first.addr.port);
  assert.equal(findListenerFd(first, libc), undefined);
});

test("TcpProtocol.listen() without reusePort leaves SO_REUSEPORT off and a second bind fails with EADDRINUSE", async () => {
  await using first = await tcp.listen(LOOPBACK);
  const fd = findListenerFd(first, libc);
  assert.ok(fd !== undefined);
  assert.equal(readSocketOptions(fd, libc).reusePort, false);
  await assert.rejects(
    () => tcp.listen({ hostname: "127.0.0.1", port: first.addr.port }, { reusePort: true }),
    (error) => error instanceof NetError && error.code === "EADDRINUSE",
  );
});
