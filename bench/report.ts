// Turns the JSON lines written by bench/run.sh into a markdown report and an SVG plot.
// usage: deno run --allow-read --allow-write bench/report.ts [--md FILE] [--svg FILE] results.jsonl [more.jsonl]
// Cells are medians over reps; ratios are value / direct within the same rep, then the median.
import { type Bar, renderSvg } from "./svg.ts";

type Row = Record<string, unknown> & { system: string; rep: number; metric: string };

/** One reported figure: a field of one measurement kind. */
interface Col {
  metric: string;
  field: string;
  title: string;
  digits: number;
  /** Which way is better; `null` for figures that have no direct counterpart. */
  better: "higher" | "lower" | null;
  scale?: number;
}
const tput = (metric: string, title: string): Col => ({ metric, field: "gbps", title, digits: 1, better: "higher" });
const MAIN: Col[] = [
  tput("tput1_up", "1 conn up Gbit/s"),
  tput("tput1_down", "1 conn down Gbit/s"),
  tput("tput8_up", "8 conns up Gbit/s"),
  tput("tput8_down", "8 conns down Gbit/s"),
  { metric: "lat", field: "p50_us", title: "ping-pong p50 µs", digits: 0, better: "lower" },
  { metric: "lat", field: "p99_us", title: "ping-pong p99 µs", digits: 0, better: "lower" },
  { metric: "rate", field: "conns_per_s", title: "conn/s", digits: 0, better: "higher" },
  { metric: "rate", field: "errors", title: "conn errors", digits: 0, better: null },
  { metric: "mem", field: "conn_bytes", title: "B/idle conn ¹", digits: 0, better: null },
  { metric: "mem", field: "held_kb", title: "MiB holding ¹", digits: 1, better: null, scale: 1 / 1024 },
];
const GT: Col[] = [
  { metric: "gtput", field: "mb_per_s", title: "(a) 1 MiB echo MB/s", digits: 0, better: "higher" },
  { metric: "gtrtt", field: "mean_ms", title: "(b) RTT mean ms", digits: 3, better: "lower" },
  { metric: "gtrtt", field: "p50_ms", title: "(b) RTT p50 ms", digits: 3, better: "lower" },
  { metric: "gtconc", field: "rps", title: "(c) requests/s", digits: 0, better: "higher" },
];
const PLOT: [Col, string][] = [
  [MAIN[0], "1 up"],
  [MAIN[1], "1 down"],
  [MAIN[2], "8 up"],
  [MAIN[3], "8 down"],
  [MAIN[4], "p50 lat"],
  [MAIN[5], "p99 lat"],
  [MAIN[6], "conn/s"],
  [GT[0], "gt MB/s"],
  [GT[1], "gt RTT"],
  [GT[3], "gt RPS"],
];

// ------------------------------------------------------------------ input
let mdPath = "", svgPath = "";
const files: string[] = [];
for (let i = 0; i < Deno.args.length; i++) {
  const a = Deno.args[i];
  if (a === "--md") mdPath = Deno.args[++i];
  else if (a === "--svg") svgPath = Deno.args[++i];
  else files.push(a);
}
if (files.length === 0) throw new TypeError("usage: report.ts [--md FILE] [--svg FILE] results.jsonl ...");
const all: Row[] = [];
for (const [i, f] of files.entries()) { // reps of a second file become 1001, 1002, ... so that runs merge
  for (const line of (await Deno.readTextFile(f)).split("\n")) {
    if (line.trim()) all.push({ ...JSON.parse(line), rep: JSON.parse(line).rep + i * 1000 });
  }
}
// Memory per idle connection: RSS growth of a single process; PSS growth of a process tree (socat forks one per
// connection, nginx runs master + worker), where RSS would count shared pages once per process. A single process's
// PSS is not used: it moves whenever unrelated processes map the same binary (e.g. other deno/bun runs).
for (const r of all) {
  if (r.metric !== "mem") continue;
  const tree = Number(r.procs ?? 1) > 1;
  r.conn_bytes = tree ? r.pss_bytes_per_conn : r.bytes_per_conn;
  r.held_kb = tree ? r.pss_after_kb : r.rss_after_kb;
}
const meta: Record<string, unknown> = all.find((r) => r.metric === "meta") ?? {};
const rows = all.filter((r) => r.metric !== "meta");
const systems = [...new Set(rows.map((r) => r.system))];
const others = systems.filter((s) => s !== "direct");

// ------------------------------------------------------------------ stats
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
function perRep(sys: string, c: Col): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of rows) {
    const v = r[c.field];
    if (r.system === sys && r.metric === c.metric && typeof v === "number" && v >= 0) {
      m.set(r.rep, v * (c.scale ?? 1));
    }
  }
  return m;
}
const med = (sys: string, c: Col) => {
  const v = [...perRep(sys, c).values()];
  return v.length ? median(v) : NaN;
};
/** Median over reps of value / direct in the same rep. */
function ratio(sys: string, c: Col): number {
  const d = perRep("direct", c), rs: number[] = [];
  for (const [rep, x] of perRep(sys, c)) if (d.get(rep)) rs.push(x / d.get(rep)!);
  return rs.length ? median(rs) : NaN;
}
/** Work per proxy CPU-second: Gbit (iperf3 also runs 1 s of omitted warm-up) or connections. */
function efficiency(sys: string, metric: string): number {
  const eff: number[] = [];
  for (const r of rows) {
    const cpu = r.proxy_cpu_s, secs = r.seconds as number;
    if (r.system !== sys || r.metric !== metric || typeof cpu !== "number" || cpu <= 0) continue;
    if (metric.startsWith("tput") && typeof r.gbps === "number") eff.push((r.gbps * (secs + 1)) / cpu);
    if (metric === "rate" && typeof r.conns === "number") eff.push(r.conns / cpu);
  }
  return eff.length ? median(eff) : NaN;
}

// ------------------------------------------------------------------ markdown
const fmt = (v: number, d: number) =>
  Number.isFinite(v) ? v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "–";
const present = (cols: Col[]) => cols.filter((c) => systems.some((s) => perRep(s, c).size > 0));
const out: string[] = [];
const table = (cols: Col[], cell: (s: string, c: Col) => string, syss = systems) => {
  out.push(`| system | ${cols.map((c) => c.title).join(" | ")} |`, `|---|${cols.map(() => "---:").join("|")}|`);
  for (const s of syss) out.push(`| ${s} | ${cols.map((c) => cell(s, c)).join(" | ")} |`);
  out.push("");
};
const withRatio = (s: string, c: Col) => {
  const v = fmt(med(s, c), c.digits);
  return c.better && s !== "direct" && v !== "–" ? `${v} (${fmt(ratio(s, c), 2)}×)` : v;
};
const spread = (s: string, c: Col) => {
  const v = [...perRep(s, c).values()];
  return v.length ? `${fmt(Math.min(...v), c.digits)}–${fmt(Math.max(...v), c.digits)}` : "–";
};

const reps = [...new Set(rows.map((r) => r.rep))].length;
out.push("# ts-tunnel forwarding benchmark", "");
if (meta.date) {
  out.push(
    `${meta.date} · commit \`${meta.commit}\` · ${reps} rep(s)${meta.quick ? " (--quick)" : ""} · ` +
      `${meta.cpus} CPUs (${meta.cpu}) · kernel ${meta.kernel}`,
    "",
    `Runtimes and peers: ${["deno", "bun", "nginx", "haproxy", "socat", "iperf3"].map((k) => meta[k]).join(" · ")}`,
    "",
    `Settings: bulk ${meta.secs} s (+1 s warm-up), ping-pong ${meta.roundtrips} round trips, connection rate ` +
      `${meta.rate_secs} s at c=${meta.conc}, ${meta.conns} idle connections held, go-tunnel tests repeated ` +
      `${meta.gt_runs}× per measurement. Command: \`bash bench/run.sh\` (see bench/README.md).`,
    "",
  );
} else out.push(`Sources: ${files.join(", ")}, ${reps} rep(s)`, "");
if (svgPath) out.push(`![relative performance](${svgPath.split("/").pop()})`, "");
out.push(
  "## Summary",
  "",
  "Median over reps; in brackets the ratio to `direct` measured in the same rep (median over reps). " +
    "Throughput and conn/s: higher is better; latency: lower is better (measured with the load generator on CPU 0 " +
    "and the system plus echo server on the last CPU).",
  "",
);
table(present(MAIN), withRatio);
if (rows.some((r) => r.metric === "mem")) {
  out.push(
    "¹ Memory of the system per idle forwarded connection (growth while holding them) and in total while holding: " +
      "RSS for a single process, PSS (shared pages split among the processes mapping them) for process trees such " +
      "as socat's fork per connection.",
    "",
  );
}
const effCols = ["tput1_up", "tput1_down", "tput8_up", "tput8_down"].filter((m) => rows.some((r) => r.metric === m));
if (effCols.length || rows.some((r) => r.metric === "rate")) {
  out.push(
    "## Proxy CPU efficiency",
    "",
    "Work per CPU-second of the system's process tree (user + sys) during the measurement: Gbit forwarded per " +
      "CPU-second for bulk runs (CPU-seconds per Gbit = 1 / value), connections per CPU-second for the rate test. " +
      "Independent of who won the race for the cores, so steadier than the raw rates.",
    "",
    `| system | ${effCols.map((m) => `${m} Gbit/CPU-s`).join(" | ")} | conns/CPU-s |`,
    `|---|${effCols.map(() => "---:|").join("")}---:|`,
  );
  for (const s of others) {
    out.push(
      `| ${s} | ${effCols.map((m) => fmt(efficiency(s, m), 1)).join(" | ")} | ${fmt(efficiency(s, "rate"), 0)} |`,
    );
  }
  out.push("");
}
if (present(GT).length) {
  out.push(
    "## go-tunnel's method (test_e2e.sh)",
    "",
    "(a) one connection, 10 rounds of 1 MiB sent then 1 MiB echoed, MB/s = 20 MiB / s (both directions, as " +
      "go-tunnel counts); (b) 100 fresh connections, time of a 4-byte write + echo (connect not timed); " +
      "(c) 10 threads × 50 sequential connect + 1 KiB echo + close, requests/s including connects. " +
      "Each repeated per measurement; brackets: ratio to direct. go-tunnel's README (macOS, user-space copy): " +
      "2394 → 1358 MB/s, 0.068 → 0.170 ms, 10,455 → 7,585 RPS.",
    "",
  );
  table(present(GT), withRatio);
}
if (reps > 1) {
  out.push("## Spread (min–max over reps)", "");
  table(present([...MAIN, ...GT]), spread);
}
const problems = rows.filter((r) =>
  r.metric === "start" || r.metric === "stop" || r.failed || (typeof r.errors === "number" && r.errors !== 0) ||
  ("gbps" in r && r.gbps === null) || (r.metric === "mem" && typeof meta.conns === "number" && r.held !== meta.conns)
);
if (problems.length) {
  out.push("## Problems", "");
  for (const p of problems) out.push(`- ${p.system} rep ${p.rep} ${p.metric}: \`${JSON.stringify(p)}\``);
  out.push("");
}

const md = out.join("\n");
if (mdPath) await Deno.writeTextFile(mdPath, md);
else await Deno.stdout.write(new TextEncoder().encode(md));

// ------------------------------------------------------------------ plot
if (svgPath) {
  const relative = (s: string, c: Col) => c.better === "lower" ? 1 / ratio(s, c) : ratio(s, c);
  const groups = PLOT.filter(([c]) => perRep("direct", c).size > 0);
  const bars: Bar[] = others.map((s) => ({ label: s, values: groups.map(([c]) => relative(s, c)) }));
  const memCol = MAIN.find((c) => c.field === "conn_bytes")!;
  const svg = renderSvg({
    title: `ts-tunnel benchmark · ${meta.date ?? files.join(", ")} · ${reps} rep(s)${meta.quick ? " (quick)" : ""}`,
    groups: groups.map(([, l]) => l),
    bars,
    memory: others.map((s) => ({ label: s, value: med(s, memCol) })),
    efficiency: others.map((s) => ({
      label: s,
      value: median(effCols.map((m) => efficiency(s, m)).filter(Number.isFinite)),
    })),
  });
  await Deno.writeTextFile(svgPath, svg);
}
