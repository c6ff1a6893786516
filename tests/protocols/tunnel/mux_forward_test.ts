import assert from "node:assert/strict";
import { forward } from "../../../forward/engine.ts";
import { NetError } from "../../../protocols/errors.ts";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import { TcpProtocol } from "../../../protocols/tcp.ts";
import { randomBytes, startEchoServer } from "../../_util/echo_server.ts";
import { runtimeName, test } from "../../_util/test.ts";
import { expectBytes, muxPair, openPair, writeAll } from "./_util.ts";

test("forward() moves a tunnel stream to a TCP target and back, byte-exact, with half-close", async () => {
  await using echo = await startEchoServer();
  await using pair = await muxPair();
  const [serverSide, clientSide] = await openPair(pair);
  const target = await new TcpProtocol().dial({ hostname: "127.0.0.1", port: echo.port });
  const forwarding = forward(clientSide, target);
  const data = randomBytes(8 * 1024 * 1024, 21);
  await Promise.all([writeAll(serverSide.writable, data), expectBytes(serverSide.readable, data)]);
  const stats = await forwarding;
  assert.equal(stats.aToB, data.byteLength);
  assert.equal(stats.bToA, data.byteLength);
  // Deno TCP conns and tunnel streams both offer pull I/O, so the native pump takes the pair.
  if (runtimeName === "deno") assert.equal(stats.path, "pull-pump");
  await serverSide.closed;
});

test("forward() over a tunnel stream reports the peer's reset as NetError ECONNRESET with the tunnel code", async () => {
  await using echo = await startEchoServer();
  await using pair = await muxPair();
  const [serverSide, clientSide] = await openPair(pair);
  const target = await new TcpProtocol().dial({ hostname: "127.0.0.1", port: echo.port });
  const forwarding = forward(clientSide, target);
  const writer = serverSide.writable.getWriter();
  await writer.write(new Uint8Array(1000));
  serverSide.reset("shutting_down");
  await assert.rejects(forwarding, (error) => {
    assert.ok(error instanceof NetError);
    assert.equal(error.code, "ECONNRESET");
    assert.ok(error.cause instanceof TunnelError && error.cause.code === "shutting_down");
    return true;
  });
  await target.closed;
});
