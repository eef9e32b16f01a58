/** bench/results/report.html: one self-contained offline page, tables plus inline SVG plots. */
import type { CompareResults } from './compare-results.js';
import type { RuntimeId } from './peers/runtime.js';
import {
  adapterLine,
  bytes,
  families,
  familyColors,
  largestProfiledCell,
  loadavg,
  RUNTIME_COLORS,
  ranCells,
  runtimesIn,
  SHORT,
} from './report-common.js';
import { barChart, lineChart, PALETTE, stackedBars } from './report-svg.js';
import { renderMarkdownTables } from './report-tables.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderHtml(r: CompareResults, markdown: string): string {
  const runtimes = runtimesIn(r);
  const color = (id: RuntimeId) => RUNTIME_COLORS[id];
  const cells = ranCells(r);
  const sections: string[] = [];

  // Latency against sequence length, one plot per (model, batch).
  const latency: string[] = [];
  for (const m of r.models) {
    for (const batch of [...new Set(cells.filter((c) => c.model === m.name).map((c) => c.batch))]) {
      const mine = cells.filter((c) => c.model === m.name && c.batch === batch);
      const series = runtimes
        .map((id) => ({
          name: SHORT[id],
          color: color(id),
          points: mine
            .filter((c) => c.results[id]?.medianMs !== undefined)
            .map((c) => [c.seqLen, c.results[id]!.medianMs!] as [number, number]),
        }))
        .filter((s) => s.points.length);
      latency.push(
        lineChart({
          title: `${m.name}, batch ${batch}`,
          xLabel: 'sequence length (tokens)',
          yLabel: 'median latency (ms, log)',
          series,
        }),
      );
    }
  }
  sections.push(
    `<h2>Latency per runtime and sequence length</h2><p>Median of ${r.options.runs} runs after ${r.options.warmup} warm-up; both axes logarithmic. Hover a point for its value.</p><div class="plots">${latency.join('')}</div>`,
  );

  // Load and first inference: what a user waits before the first answer, per model.
  const startup: string[] = [];
  for (const m of r.models) {
    const bars = r.loads
      .filter((l) => l.model === m.name && l.loadMs !== undefined)
      .flatMap((l) => {
        const out = [
          {
            label: `${SHORT[l.runtime]}: load`,
            value: l.loadMs! / 1000,
            color: color(l.runtime),
            text: `${(l.loadMs! / 1000).toFixed(1)} s`,
          },
        ];
        if (l.firstRunMs !== undefined)
          out.push({
            label: `${SHORT[l.runtime]}: first run`,
            value: l.firstRunMs / 1000,
            color: color(l.runtime),
            text: `${(l.firstRunMs / 1000).toFixed(2)} s`,
          });
        return out;
      });
    if (bars.length) startup.push(barChart({ title: `${m.name}: load, then first forward (s)`, bars }));
  }
  if (startup.length)
    sections.push(
      `<h2>Load and first inference</h2><p>Load: from the page's first request to a runtime ready to run, each runtime in a fresh page. First run: the first forward after that, on the model's first cell (its steady median is in the tables).</p><div class="plots">${startup.join('')}</div>`,
    );

  // Memory: what each runtime holds, per model.
  const memory: string[] = [];
  for (const m of r.models) {
    const bars = r.loads
      .filter((l) => l.model === m.name && l.memory)
      .flatMap((l) => {
        const mem = l.memory!;
        const out = [];
        if (mem.gpuWeightBytes !== undefined)
          out.push({
            label: `${SHORT[l.runtime]}: GPU weights`,
            value: mem.gpuWeightBytes,
            color: color(l.runtime),
            text: bytes(mem.gpuWeightBytes),
          });
        if (mem.gpuActivationBytes !== undefined)
          out.push({
            label: `${SHORT[l.runtime]}: GPU activations`,
            value: mem.gpuActivationBytes,
            color: color(l.runtime),
            text: bytes(mem.gpuActivationBytes),
          });
        if (mem.gpuWeightBytes === undefined && mem.modelFileBytes !== undefined)
          out.push({
            label: `${SHORT[l.runtime]}: files loaded`,
            value: mem.modelFileBytes,
            color: color(l.runtime),
            text: `${bytes(mem.modelFileBytes)} (file bytes)`,
          });
        return out;
      });
    if (bars.length) memory.push(barChart({ title: m.name, bars }));
  }
  sections.push(
    `<h2>Memory</h2><p>Ours: GPU buffer bytes reported by <code>memory()</code>. Peers: bytes of the files they load (ONNX graph + weights); their GPU and wasm allocations are not observable from the page. JS heap figures are in the table below.</p><div class="plots">${memory.join('')}</div>`,
  );

  // Per-kernel breakdown of one profiled forward.
  const kernels: string[] = [];
  const family = familyColors(r, PALETTE);
  for (const m of r.models) {
    const cell = largestProfiledCell(r, m.name);
    if (!cell) continue;
    const rows = runtimes
      .filter((id) => cell.results[id]?.kernels?.length)
      .map((id) => {
        // Families outside the report's palette share one grey "other" segment.
        const merged = new Map<string, number>();
        for (const f of families(cell.results[id]!.kernels!))
          merged.set(family.name(f.name), (merged.get(family.name(f.name)) ?? 0) + f.value);
        return { label: SHORT[id], segments: [...merged].map(([name, value]) => ({ name, value })) };
      });
    kernels.push(
      stackedBars({
        title: `${m.name}, seq ${cell.seqLen} batch ${cell.batch}: GPU time per kernel family`,
        rows,
        unit: 'ms',
        color: family.color,
      }),
    );
  }
  if (kernels.length)
    sections.push(
      `<h2>Per-kernel breakdown</h2><p>GPU timestamps around every dispatch of one extra forward (not one of the timed runs), summed per kernel family. Hover a segment for its time.</p>${kernels.join('')}`,
    );

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>int8-transformer: peer benchmark ${esc(r.date.slice(0, 10))}</title>
<style>
body { font-family: sans-serif; margin: 24px; max-width: 1500px; color: #222; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; overflow-wrap: normal; }
th { background: #f2f2f2; }
/* Wide tables scroll inside their box; the page itself never scrolls sideways (390 px phones). */
.table-scroll { overflow-x: auto; max-width: 100%; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
svg { border: 1px solid #eee; max-width: 100%; height: auto; }
code { background: #f4f4f4; padding: 0 3px; }
@media (max-width: 600px) { body { margin: 10px; } }
</style></head><body>
<h1>int8-transformer against peer runtimes</h1>
<p>${esc(r.date.slice(0, 16).replace('T', ' '))} UTC, ${esc(r.mode)} grid, ${(r.durationS / 60).toFixed(0)} min; ${esc(r.machine.cpu)} (${r.machine.cores} cores),
WebGPU adapter ${esc(adapterLine(r))}; Chromium ${esc(r.machine.chromium)}; load average ${esc(loadavg(r.machine.loadavgStart))} at start, ${esc(loadavg(r.machine.loadavgEnd))} at end.</p>
${sections.join('\n')}
<h2>Tables</h2>
${renderMarkdownTables(markdown)}
</body></html>
`;
}
