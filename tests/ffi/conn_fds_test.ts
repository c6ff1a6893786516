import assert from "node:assert/strict";
import { findSocketFd } from "../../ffi/socket_fd.ts";
import { findPairFds } from "../../ffi/_conn_fds.ts";
import type { NetAddr } from "../../protocols/types.ts";
import { test } from "../_util/test.ts";
import { libcOrFail, tcpPair } from "./_util.ts";

const libc = await libcOrFail();
const never = () => false;

/** The addresses alone (no SOCKET_FD): the lookup has to probe, on Bun too. */
function addressesOf(conn: { localAddr: NetAddr; remoteAddr: NetAddr }) {
  return { localAddr: conn.localAddr, remoteAddr: conn.remoteAddr };
}

test("findPairFds() finds both sockets of a pair in one pass, as findSocketFd() does one by one", async () => {
  await using left = await tcpPair();
  await using right = await tcpPair();
  const expected = [findSocketFd(left.server, libc), findSocketFd(right.client, libc)];
  assert.deepEqual(findPairFds(left.server, right.client, libc, never), expected);
  assert.deepEqual(findPairFds(addressesOf(left.server), addressesOf(right.client), libc, never), expected);
});

test("findPairFds() finds sockets above a long run of closed fds, and ignores what it is told to skip", async () => {
  // Hold 400 fds, open the pair above them, then close them: a gap the upward probe gives up on.
  const pipes = new Int32Array(2);
  const held: number[] = [];
  for (let i = 0; i < 200; i++) {
    assert.equal(libc.pipe2(pipes, 0o2000000), 0);
    held.push(pipes[0], pipes[1]);
  }
  await using left = await tcpPair();
  await using right = await tcpPair();
  for (const fd of held) libc.close(fd);
  const expected = [findSocketFd(left.server, libc)!, findSocketFd(right.client, libc)!];
  // (Other test modules run in parallel in this process may open fds in the gap; the finds hold either way.)
  assert.deepEqual(findPairFds(addressesOf(left.server), addressesOf(right.client), libc, never), expected);
  // Skipping is only a hint for the probe: the listing that follows it still finds the sockets.
  const skipped = findPairFds(addressesOf(left.server), addressesOf(right.client), libc, (fd) => expected.includes(fd));
  assert.deepEqual(skipped, expected);
});

test("findPairFds() returns undefined when a conn is closed", async () => {
  await using left = await tcpPair();
  await using right = await tcpPair();
  right.client.close();
  await right.client.closed;
  assert.equal(findPairFds(left.server, right.client, libc, never), undefined);
});
