// deno-lint-ignore-file no-console -- a bench prints its figures (and its child processes their ports)
/**
 * Small request/response latency through the reverse tunnel while a bulk transfer runs on another
 * tunneled connection (the "within 3x of its idle value"). One connection does 64-byte
 * echo round trips, first on the idle tunnel, then during a bulk transfer (256 MiB by default);
 * prints p50/p99 idle and under load, their ratio, and the bulk's throughput.
 *
 * ```sh
 * deno run -A bench/tunnel_latency.ts --transport tcp --procs   # the setup the issue measures
 * bun bench/tunnel_latency.ts --transport tls                    # everything in this process
 * deno run -A bench/tunnel_latency.ts --transport quic --direction up --mib 64 --runs 3
 * ```
 *
 * `--procs` runs the tunnel server, the tunnel client and the bulk (its service and its public
 * client) in three child processes of the same runtime; this process keeps only the echo service
 * and the round trips, so the ratio shows the tunnel's queueing and not the load generator's own
 * event loop. Without it everything shares one event loop (as tunnel_latency_test.ts does), which
 * inflates the ratio. `--direct` skips the tunnel (the bulk still in its own process): the floor
 * the machine itself sets. `--ssh` runs the same measurement through `ssh -R` (OpenSSH from
 * Debian, aes128-gcm, both services over one SSH session; `bench/proxies/ssh-reverse.sh`), as
 * the reference a mature C implementation reaches on the same cores. With `--procs`,
 * `--server-runtime` and `--client-runtime` (deno or bun) run the tunnel's ends on other runtimes
 * (the cross-runtime pairs). Timings are not asserted anywhere: this only prints.
 * @module
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import {
  type BulkDirection,
  type BulkResult,
  type BulkRun,
  bulkTransfer,
  quantile,
  runLatencyUnderLoad,
  startLoadTarget,
} from "../tests/protocols/tunnel/_latency_load.ts";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { cpus, loadavg, tmpdir } from "node:os";
import { testCerts } from "../tests/_util/certs.ts";
import { closedLoopbackPort } from "../tests/_util/echo_server.ts";
import { waitFor } from "../tests/_util/wait.ts";
import {
  makeClient,
  startServer,
  TRANSPORT_FIXTURES,
  useFixtureCerts,
} from "../tests/protocols/tunnel/_tunnel_util.ts";

const isDeno = "Deno" in globalThis;
const argv = isDeno
  ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args
  : (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const { values } = parseArgs({
  args: argv,
  options: {
    transport: { type: "string", default: "tcp" },
    mib: { type: "string", default: "256" },
    direction: { type: "string", default: "down" },
    "round-trips": { type: "string", default: "2000" },
    runs: { type: "string", default: "1" },
    procs: { type: "boolean", default: false },
    direct: { type: "boolean", default: false },
    ssh: { type: "boolean", default: false },
    "server-runtime": { type: "string" },
    "client-runtime": { type: "string" },
    role: { type: "string" }, // internal: a child process of --procs
    args: { type: "string", multiple: true, default: [] },
  },
});
const transport = TRANSPORT_FIXTURES[values.transport as keyof typeof TRANSPORT_FIXTURES];
if (!transport) throw new Error(`--transport must be tcp, tls or quic: current value is ${values.transport}`);
const direction = values.direction as BulkDirection;
if (direction !== "down" && direction !== "up") {
  throw new Error(`--direction must be down or up: current value is ${values.direction}`);
}
const bulkBytes = Number(values.mib) * 1024 * 1024;
const runtime = isDeno ? "deno" : "bun";

/** How long a child may take to print its next line (its ports, a bulk's result). */
const CHILD_TIMEOUT_MS = 120_000;

/** The lines a child prints (its ports, its results) and a way to send it lines. */
interface Child extends AsyncDisposable {
  next(): Promise<string>;
  send(line: string): void;
}

/** The runtime a child role runs on: `--server-runtime` / `--client-runtime` (with `--procs`), else this one. */
function runtimeOf(role: string): string {
  const chosen = role === "server"
    ? values["server-runtime"]
    : role === "client"
    ? values["client-runtime"]
    : undefined;
  if (chosen === undefined || chosen === runtime) return runtime;
  if (chosen !== "deno" && chosen !== "bun") {
    throw new Error(`--${role}-runtime must be deno or bun: current value is ${chosen}`);
  }
  return chosen;
}

function child(role: string, args: string[] = []): Child {
  const self = new URL(import.meta.url).pathname;
  const childRuntime = runtimeOf(role);
  const execPath = childRuntime === runtime
    ? isDeno
      ? (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath()
      : (globalThis as unknown as { process: { execPath: string } }).process.execPath
    : new URL(`../node_modules/.bin/${childRuntime}`, import.meta.url).pathname;
  const command = childRuntime === "deno" ? [execPath, "run", "-A", self] : [execPath, self];
  const proc = spawn(command[0], [
    ...command.slice(1),
    "--role",
    role,
    "--transport",
    transport.name,
    ...args.flatMap((a) => ["--args", a]),
  ], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  return {
    async next() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the ${role} process said nothing for ${CHILD_TIMEOUT_MS} ms`)),
          CHILD_TIMEOUT_MS,
        );
      });
      try {
        const { done, value } = await Promise.race([lines.next(), timeout]);
        if (done) throw new Error(`the ${role} process ended early`);
        return value;
      } finally {
        clearTimeout(timer);
      }
    },
    send: (line) => void proc.stdin!.write(line + "\n"),
    async [Symbol.asyncDispose]() {
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

/** Child roles: print what the parent needs, then run until stdin ends or SIGTERM. */
async function runRole(role: string, args: string[]): Promise<void> {
  const stdin = createInterface({ input: (globalThis as unknown as { process: { stdin: never } }).process.stdin });
  const lines = stdin[Symbol.asyncIterator]();
  if (role === "server") {
    const server = await startServer(transport);
    console.log(`${server.addr!.port} ${(await testCerts()).caFile}`); // the client trusts this process's CA

    await lines.next();
    await server.stop();
  } else if (role === "client") {
    const [serverPort, echoPort, bulkPort] = args.slice(0, 3).map(Number);
    const caPem = await readFile(args[3], "utf8");
    useFixtureCerts(async () => ({ ...await testCerts(), caPem }));
    const client = await makeClient(transport, serverPort, {
      services: [
        { name: "echo", localAddr: `127.0.0.1:${echoPort}` },
        { name: "bulk", localAddr: `127.0.0.1:${bulkPort}` },
      ],
    });
    await client.start();
    console.log(client.services().map((s) => s.remotePort).join(" "));
    await lines.next();
    await client.stop();
  } else if (role === "bulk") {
    await using target = await startLoadTarget();
    console.log(target.port);
    for (let line = await lines.next(); !line.done; line = await lines.next()) {
      const [port, bytes, way] = line.value.split(" ");
      console.log(JSON.stringify(await bulkTransfer(Number(port), Number(bytes), way as BulkDirection).done));
    }
  }
  stdin.close();
}

/** Runs the bulk transfer in the bulk process, to `port`. */
function bulkIn(bulk: Child, port: number | string): BulkRun {
  bulk.send(`${port} ${bulkBytes} ${direction}`);
  return { done: bulk.next().then((line) => JSON.parse(line) as BulkResult) };
}

/** True once `port` on loopback accepts a connection. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** `ssh -R` forwarding two fresh public ports to the echo and bulk services, in one SSH session. */
async function sshTunnel(echoPort: number, bulkPort: string): Promise<AsyncDisposable & { ports: number[] }> {
  const ports = [await closedLoopbackPort(), await closedLoopbackPort()];
  const script = new URL("./proxies/ssh-reverse.sh", import.meta.url).pathname;
  const dir = await mkdtemp(join(tmpdir(), "ts-tunnel-ssh-"));
  const proc = spawn("bash", [script, ports.join(","), `${echoPort},${bulkPort}`, dir, "aes128-gcm@openssh.com"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  for (const port of ports) await waitFor(() => accepts(port), `ssh -R to open port ${port}`);
  return {
    ports,
    async [Symbol.asyncDispose]() {
      proc.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One measurement: in this process, in child processes, through `ssh -R`, or without a tunnel. */
async function measure(echoPort: number) {
  const options = { idleRoundTrips: Number(values["round-trips"]), maxLoadedRoundTrips: 1_000_000 };
  if (values.direct) {
    await using bulk = child("bulk");
    const bulkTarget = await bulk.next();
    return await runLatencyUnderLoad({ ...options, port: echoPort, bulk: () => bulkIn(bulk, bulkTarget) });
  }
  if (values.ssh) {
    await using bulk = child("bulk");
    const bulkTarget = await bulk.next();
    await using ssh = await sshTunnel(echoPort, bulkTarget);
    const [echoPublic, bulkPublic] = ssh.ports;
    return await runLatencyUnderLoad({ ...options, port: echoPublic, bulk: () => bulkIn(bulk, bulkPublic) });
  }
  if (!values.procs) {
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      services: [{ name: "load", localAddr: `127.0.0.1:${echoPort}` }],
    });
    await client.start();
    const port = client.services()[0].remotePort!;
    return await runLatencyUnderLoad({ ...options, port, bulk: () => bulkTransfer(port, bulkBytes, direction) });
  }
  await using bulk = child("bulk");
  const bulkTarget = await bulk.next();
  await using server = child("server");
  const [serverPort, caFile] = (await server.next()).split(" ");
  await using client = child("client", [serverPort, String(echoPort), bulkTarget, caFile]);
  const [echoPublic, bulkPublic] = (await client.next()).split(" ").map(Number);
  const result = await runLatencyUnderLoad({ ...options, port: echoPublic, bulk: () => bulkIn(bulk, bulkPublic) });
  client.send("stop");
  server.send("stop");
  return result;
}

async function main(): Promise<void> {
  const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
  const ratios: number[] = [];
  await using target = await startLoadTarget();
  for (let run = 0; run < Number(values.runs); run++) {
    const result = await measure(target.port);
    if (!result.bulkIntact || !result.repliesExact) {
      throw new Error(`bytes differ: bulk intact ${result.bulkIntact}, replies exact ${result.repliesExact}`);
    }
    const idle = quantile(result.idleMs, 0.5);
    const loaded = quantile(result.loadedMs, 0.5);
    ratios.push(loaded / idle);
    const gbps = (bulkBytes * 8) / (result.bulkMs / 1000) / 1e9;
    const runtimes = values.procs && (runtimeOf("server") !== runtime || runtimeOf("client") !== runtime)
      ? `server ${runtimeOf("server")}, client ${runtimeOf("client")},`
      : runtime;
    console.log(
      `${runtimes} ${values.direct ? "direct" : values.ssh ? "ssh -R" : transport.name}` +
        `${values.procs ? " procs" : ""} ${direction} ` +
        `${values.mib} MiB: idle p50 ${fmt(idle)} p99 ${fmt(quantile(result.idleMs, 0.99))}; ` +
        `under bulk p50 ${fmt(loaded)} p99 ${fmt(quantile(result.loadedMs, 0.99))} ` +
        `(${result.loadedMs.length} round trips); ratio p50 ${(loaded / idle).toFixed(2)}x; ` +
        `bulk ${gbps.toFixed(2)} Gbit/s; load average ${loadavg()[0].toFixed(2)} on ${cpus().length} cores`,
    );
  }
  if (ratios.length > 1) console.log(`median ratio p50 ${quantile(ratios, 0.5).toFixed(2)}x (the issue's limit: 3x)`);
}

if (values.role) await runRole(values.role, values.args);
else await main();
