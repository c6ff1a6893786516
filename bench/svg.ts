// Renders the benchmark plot as a standalone SVG (no dependencies): grouped bars of performance relative to
// `direct` per metric and system, then memory per idle connection and proxy CPU efficiency per system.

/** One system's bars in the grouped chart, one value per group (NaN: not measured). */
export interface Bar {
  label: string;
  values: number[];
}
/** One system's value in a horizontal bar panel. */
export interface Point {
  label: string;
  value: number;
}
/** Everything the plot shows. */
export interface PlotData {
  title: string;
  groups: string[];
  bars: Bar[];
  memory: Point[];
  efficiency: Point[];
}

const COLORS = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
  "#1b9e77",
  "#7570b3",
];
const W = 1100, PAD = 60, FONT = `font-family="sans-serif"`;
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const text = (x: number, y: number, s: string, extra = "", size = 12) =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT} font-size="${size}" ${extra}>${esc(s)}</text>`;
const rect = (x: number, y: number, w: number, h: number, fill: string, tip: string) =>
  `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(w, 0).toFixed(1)}" height="${
    Math.max(h, 0).toFixed(1)
  }" fill="${fill}"><title>${esc(tip)}</title></rect>`;
const line = (x1: number, y1: number, x2: number, y2: number, extra: string) =>
  `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" ${extra}/>`;
const num = (v: number, d = 0) => v.toLocaleString("en-US", { maximumFractionDigits: d });

/** Grouped bars; 1.0 = direct. Returns the SVG parts and the height used. */
function grouped(d: PlotData, top: number): [string[], number] {
  const h = 320, out: string[] = [];
  const finite = d.bars.flatMap((b) => b.values.filter(Number.isFinite));
  const ymax = Math.max(1.2, Math.ceil(Math.max(0, ...finite) * 5) / 5);
  const y = (v: number) => top + h - (Math.min(v, ymax) / ymax) * h;
  out.push(
    text(PAD, top - 12, "Performance relative to direct (same rep, median; latency inverted: higher is better)"),
  );
  for (let g = 0; g <= ymax + 1e-9; g += ymax > 2.4 ? 0.5 : 0.2) {
    out.push(
      line(PAD, y(g), W - 20, y(g), `stroke="#ddd"`),
      text(PAD - 8, y(g) + 4, g.toFixed(1), `text-anchor="end"`),
    );
  }
  const gw = (W - 20 - PAD) / Math.max(d.groups.length, 1), bw = (gw * 0.85) / Math.max(d.bars.length, 1);
  d.groups.forEach((g, gi) => {
    const x0 = PAD + gi * gw + gw * 0.075;
    d.bars.forEach((b, bi) => {
      const v = b.values[gi];
      if (!Number.isFinite(v)) return;
      out.push(
        rect(
          x0 + bi * bw,
          y(v),
          bw - 1,
          top + h - y(v),
          COLORS[bi % COLORS.length],
          `${b.label} ${g}: ${v.toFixed(2)}`,
        ),
      );
    });
    out.push(text(PAD + gi * gw + gw / 2, top + h + 16, g, `text-anchor="middle"`));
  });
  out.push(line(PAD, y(1), W - 20, y(1), `stroke="#000" stroke-dasharray="5,4"`));
  out.push(text(W - 22, y(1) - 4, "direct = 1", `text-anchor="end"`));
  // legend
  const ly = top + h + 36, cols = 4, cw = (W - PAD) / cols;
  d.bars.forEach((b, i) => {
    const lx = PAD + (i % cols) * cw, yy = ly + Math.floor(i / cols) * 18;
    out.push(rect(lx, yy - 10, 12, 12, COLORS[i % COLORS.length], b.label), text(lx + 18, yy, b.label));
  });
  return [out, h + 36 + Math.ceil(d.bars.length / cols) * 18 + 24];
}

/** Horizontal bars of one value per system, linear or log10 scale. */
function hbars(points: Point[], x0: number, w: number, top: number, title: string, unit: string, log: boolean) {
  const out = [text(x0, top - 12, title)], labelW = 190, bh = 18;
  const vals = points.map((p) => p.value).filter((v) => Number.isFinite(v) && v > 0);
  const max = Math.max(...vals, 1), min = log ? Math.min(...vals, max) / 2 : 0;
  const scale = (v: number) =>
    log ? (Math.log10(v / min) / Math.log10((max * 1.05) / min)) * (w - labelW - 70) : (v / max) * (w - labelW - 70);
  points.forEach((p, i) => {
    const yy = top + i * (bh + 4);
    out.push(text(x0 + labelW - 6, yy + 13, p.label, `text-anchor="end"`));
    if (!(Number.isFinite(p.value) && p.value > 0)) return void out.push(text(x0 + labelW + 4, yy + 13, "–"));
    const bw = scale(p.value);
    out.push(rect(x0 + labelW, yy, bw, bh, COLORS[i % COLORS.length], `${p.label}: ${num(p.value, 1)} ${unit}`));
    out.push(text(x0 + labelW + bw + 4, yy + 13, `${num(p.value, p.value < 100 ? 1 : 0)} ${unit}`));
  });
  return [out, points.length * (bh + 4) + 30] as const;
}

/** The whole plot as an SVG document. */
export function renderSvg(d: PlotData): string {
  const parts = [text(PAD, 24, d.title, `font-weight="bold"`, 16)];
  let top = 64;
  if (d.groups.length && d.bars.length) {
    const [g, h] = grouped(d, top);
    parts.push(...g);
    top += h + 24;
  }
  const half = (W - PAD) / 2;
  const [m, mh] = hbars(d.memory, 10, half, top, "Memory per idle forwarded connection (log scale)", "B", true);
  const [e, eh] = hbars(d.efficiency, 10 + half, half, top, "Bulk Gbit per proxy CPU-second (median)", "", false);
  parts.push(...m, ...e);
  const height = top + Math.max(mh, eh) + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${parts.join("\n")}\n</svg>\n`;
}
