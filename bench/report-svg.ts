/**
 * The few plots the report needs, drawn as inline SVG strings (no chart library: the report is a
 * single offline file). Log axes, because latencies span four orders of magnitude.
 */

export const PALETTE = [
  '#1b6ac9',
  '#7aa7e0',
  '#d1495b',
  '#edae49',
  '#00798c',
  '#66a182',
  '#8d6a9f',
  '#444444',
  '#b56576',
  '#9a8c98',
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round numbers for log-axis ticks: 1, 2, 5 x 10^k inside [lo, hi]. */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

export function formatNumber(v: number): string {
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(0);
  if (v >= 1) return v.toFixed(v % 1 ? 1 : 0);
  return v.toPrecision(1);
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

/** Lines with markers on log-log axes; x values are labelled as given (sequence lengths). */
export function lineChart(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
}): string {
  const W = o.width ?? 460;
  // Legend in two columns under the axes (runtime names are long); the plot keeps its height.
  const legendRows = Math.ceil(o.series.length / 2);
  const H = (o.height ?? 300) + Math.max(0, legendRows - 2) * 14;
  const m = { l: 56, r: 12, t: 28, b: 42 + legendRows * 14 };
  const all = o.series.flatMap((s) => s.points);
  if (!all.length) return '';
  const xs = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  const ys = all.map((p) => p[1]);
  const yLo = Math.min(...ys) / 1.3;
  const yHi = Math.max(...ys) * 1.3;
  const xPos = (x: number) =>
    xs.length === 1
      ? m.l + (W - m.l - m.r) / 2
      : m.l + ((Math.log(x) - Math.log(xs[0])) / (Math.log(xs.at(-1)!) - Math.log(xs[0]))) * (W - m.l - m.r - 20) + 10;
  const yPos = (y: number) =>
    m.t + (1 - (Math.log(y) - Math.log(yLo)) / (Math.log(yHi) - Math.log(yLo))) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  ];
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of logTicks(yLo, yHi)) {
    const y = yPos(t).toFixed(1);
    parts.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#e3e3e3"/><text x="${m.l - 4}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatNumber(t)}</text>`,
    );
  }
  for (const x of xs)
    parts.push(`<text x="${xPos(x).toFixed(1)}" y="${H - m.b + 14}" text-anchor="middle">${x}</text>`);
  parts.push(
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#888"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#888"/>`,
  );
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - m.b + 28}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  for (const s of o.series) {
    const pts = [...s.points]
      .sort((a, b) => a[0] - b[0])
      .map(([x, y]) => `${xPos(x).toFixed(1)},${yPos(y).toFixed(1)}`);
    if (pts.length > 1)
      parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const [x, y] of s.points)
      parts.push(
        `<circle cx="${xPos(x).toFixed(1)}" cy="${yPos(y).toFixed(1)}" r="3.5" fill="${s.color}"><title>${esc(s.name)}: ${y.toFixed(1)}</title></circle>`,
      );
  }
  o.series.forEach((s, i) => {
    const x = 20 + (i % 2) * ((W - 20) / 2);
    const y = H - m.b + 44 + Math.floor(i / 2) * 14;
    parts.push(
      `<rect x="${x}" y="${y - 8}" width="10" height="10" fill="${s.color}"/><text x="${x + 14}" y="${y + 1}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface Bar {
  label: string;
  value: number;
  color: string;
  /** Shown at the bar's end. */
  text: string;
}

/** Horizontal bars on a linear axis, one per row. */
export function barChart(o: { title: string; bars: Bar[]; width?: number }): string {
  const W = o.width ?? 620;
  const row = 18;
  const labelW = 230;
  const H = 30 + o.bars.length * row + 8;
  const max = Math.max(...o.bars.map((b) => b.value), 1e-9);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  ];
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(o.title)}</text>`);
  o.bars.forEach((b, i) => {
    const y = 28 + i * row;
    const w = (b.value / max) * (W - labelW - 110);
    parts.push(`<text x="${labelW - 6}" y="${y + 10}" text-anchor="end">${esc(b.label)}</text>`);
    parts.push(
      `<rect x="${labelW}" y="${y}" width="${Math.max(w, 0.5).toFixed(1)}" height="${row - 5}" fill="${b.color}"/>`,
    );
    parts.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + 10}">${esc(b.text)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface StackedRow {
  label: string;
  segments: { name: string; value: number }[];
}

/** One horizontal bar per row, split into named segments (shares of the row's total), one legend. */
export function stackedBars(o: {
  title: string;
  rows: StackedRow[];
  unit: string;
  width?: number;
  /** A segment's colour; pass one shared by every chart so a name keeps its colour across them. */
  color?: (name: string) => string;
}): string {
  const W = o.width ?? 760;
  const row = 22;
  const labelW = 210;
  const names = [...new Set(o.rows.flatMap((r) => r.segments.map((s) => s.name)))];
  const color = o.color ?? ((n: string) => PALETTE[names.indexOf(n) % PALETTE.length]);
  const legendRows = Math.ceil(names.length / 4);
  const H = 30 + o.rows.length * row + 10 + legendRows * 15;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  ];
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(o.title)}</text>`);
  o.rows.forEach((r, i) => {
    const y = 28 + i * row;
    const total = r.segments.reduce((t, s) => t + s.value, 0);
    parts.push(`<text x="${labelW - 6}" y="${y + 12}" text-anchor="end">${esc(r.label)}</text>`);
    let x = labelW;
    const span = W - labelW - 90;
    for (const s of r.segments) {
      const w = total ? (s.value / total) * span : 0;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${row - 6}" fill="${color(s.name)}"><title>${esc(s.name)}: ${s.value.toFixed(2)} ${o.unit} (${((100 * s.value) / total).toFixed(1)}%)</title></rect>`,
      );
      x += w;
    }
    parts.push(`<text x="${(x + 4).toFixed(1)}" y="${y + 12}">${total.toFixed(1)} ${esc(o.unit)}</text>`);
  });
  names.forEach((n, i) => {
    const x = 10 + (i % 4) * ((W - 10) / 4);
    const y = 28 + o.rows.length * row + 12 + Math.floor(i / 4) * 15;
    parts.push(
      `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${color(n)}"/><text x="${x + 14}" y="${y}">${esc(n)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
