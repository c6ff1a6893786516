/**
 * Fixture for socket_options_config_test.ts: run by Deno without `--allow-ffi`, starts a tunnel
 * with socket options, forwards one connection, and prints what it reports as JSON.
 * @module
 */
import net from "node:net";
import process from "node:process";
import { Tunnel } from "../../forward/tunnel.ts";

const server = net.createServer((socket) => socket.pipe(socket)).listen(0, "127.0.0.1");
await new Promise((resolve) => server.once("listening", resolve));
const port = (server.address() as net.AddressInfo).port;
const tunnel = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${port}`, tcpQuickAck: true });
await tunnel.start();
const echoed = await new Promise<string>((resolve, reject) => {
  const client = net.connect(tunnel.addr!.port, "127.0.0.1", () => client.write("ping"));
  client.once("data", (data) => {
    client.destroy();
    resolve(String(data));
  });
  client.once("error", reject);
});
const { socketOptions } = tunnel.stats();
process.stdout.write(JSON.stringify({ echoed, socketOptions, reason: tunnel.socketOptionsUnavailableReason }) + "\n");
await tunnel.stop();
server.close();
